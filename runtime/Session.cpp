// Running programs step after step, the loss checked before parameters change, and checkpoints.
#include "runtime/Session.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace kiln {

namespace {

std::string lossText(double loss) { return std::isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf"; }

double scalarValue(const StoredTensor& t) {
  if (t.dtype == "F32") {
    float f;
    std::memcpy(&f, t.bytes.data(), 4);
    return f;
  }
  double d;
  std::memcpy(&d, t.bytes.data(), 8);
  return d;
}

}  // namespace

NonFiniteLoss::NonFiniteLoss(int64_t step, double loss)
    : Error(fmt::format("step {}: the loss is {} (training stopped; parameters are those before this step)", step,
                        kiln::lossText(loss))),
      step_(step),
      loss_(loss) {}

std::string NonFiniteLoss::lossText() const { return kiln::lossText(loss_); }

double Session::step(const TensorFile& batch) {
  if (!hasLoss())
    throw Error(fmt::format("step: the program has no float scalar output \"{}\" to train on; run it instead", loss_));
  return scalarValue(run(batch).at(loss_));
}

StoredTensor Session::runFor(const TensorFile& inputs, const std::string& name) {
  TensorFile out = run(inputs);
  auto it = out.find(name);
  if (it == out.end()) throw Error(fmt::format("session: the program has no output \"{}\"", name));
  return std::move(it->second);
}

void Session::trainOn(const std::string& name) {
  if (!hasScalarOutput(name)) throw Error(fmt::format("session: the program has no float scalar output \"{}\"", name));
  loss_ = name;
}

void Session::load(const std::string& path) {
  TensorFile f = loadCheckpoint(path, stateSpec());
  for (const auto& [name, t] : f) setState(name, t);
}

JitSession::JitSession(std::unique_ptr<Executable> program) : exe_(std::move(program)) {}

bool JitSession::hasScalarOutput(const std::string& name) const {
  for (const Buffer& b : exe_->spec().outputs)
    if (b.name == name && b.shape.empty() && (b.dtype == "F32" || b.dtype == "F64")) return true;
  return false;
}

void JitSession::runToLoss() {
  // Run up to the kernel that finishes the loss, check it, then the caller runs the rest (which updates
  // parameters, possibly in place). Where updates could come earlier, the state is saved first and
  // restored on failure.
  const ExecutableSpec& spec = exe_->spec();
  size_t ready = spec.readyAfter.count(loss_) ? spec.readyAfter.at(loss_) : spec.kernels.size();
  TensorFile saved;
  if (!spec.stateUntouchedUntil.count(loss_) || !spec.stateUntouchedUntil.at(loss_)) saved = values();
  exe_->run(0, ready);
  double loss = scalarValue(exe_->output(loss_));
  if (!std::isfinite(loss)) {
    for (const auto& [name, t] : saved) exe_->set(name, t);
    throw NonFiniteLoss(steps_, loss);
  }
  exe_->run(ready, exe_->spec().kernels.size());
}

void JitSession::execute(const TensorFile& inputs) {
  for (const Buffer& in : exe_->spec().inputs) {
    auto it = inputs.find(in.name);
    if (it == inputs.end()) throw Error(fmt::format("step {}: input \"{}\" is missing from the batch", steps_, in.name));
    exe_->set(in.name, it->second);
  }
  for (const auto& [name, t] : inputs) {
    bool known = false;
    for (const Buffer& in : exe_->spec().inputs) known |= in.name == name;
    if (!known) throw Error(fmt::format("step {}: the program has no input \"{}\"", steps_, name));
  }
  if (hasLoss()) runToLoss();
  else exe_->run();
  exe_->commitAliases();
  steps_++;
}

TensorFile JitSession::run(const TensorFile& inputs) {
  execute(inputs);
  TensorFile out;
  for (const Buffer& b : exe_->spec().outputs) out[b.name] = exe_->output(b.name);
  return out;
}

double JitSession::step(const TensorFile& batch) {
  if (!hasLoss())
    throw Error(fmt::format("step: the program has no float scalar output \"{}\" to train on; run it instead", loss_));
  execute(batch);
  return scalarValue(exe_->output(loss_));
}

StoredTensor JitSession::runFor(const TensorFile& inputs, const std::string& name) {
  bool known = false;
  for (const Buffer& b : exe_->spec().outputs) known |= b.name == name;
  if (!known) throw Error(fmt::format("session: the program has no output \"{}\"", name));
  execute(inputs);
  return exe_->output(name);
}

TensorFile JitSession::values() const {
  TensorFile out;
  for (const Buffer& b : exe_->spec().leaves) out[b.name] = exe_->get(b.name);
  return out;
}

std::vector<TensorSpec> JitSession::stateSpec() const {
  std::vector<TensorSpec> spec;
  for (const Buffer& b : exe_->spec().leaves) spec.push_back({b.name, b.dtype, b.shape});
  return spec;
}

}  // namespace kiln
