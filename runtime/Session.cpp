// Training steps over a compiled program, and checkpoints.
#include "runtime/Session.h"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "ir/Error.h"

namespace kiln {

Session::Session(std::unique_ptr<Executable> program) : exe_(std::move(program)) {
  bool hasLoss = false;
  for (const Buffer& b : exe_->spec().outputs)
    hasLoss |= b.name == "loss" && b.shape.empty() && (b.dtype == "F32" || b.dtype == "F64");
  if (!hasLoss) throw Error("session: the program needs a float scalar output \"loss\"");
}

double Session::step(const TensorFile& batch) {
  for (const Buffer& in : exe_->spec().inputs) {
    auto it = batch.find(in.name);
    if (it == batch.end()) throw Error(fmt::format("step {}: input \"{}\" is missing from the batch", steps_, in.name));
    exe_->set(in.name, it->second);
  }
  for (const auto& [name, t] : batch) {
    bool known = false;
    for (const Buffer& in : exe_->spec().inputs) known |= in.name == name;
    if (!known) throw Error(fmt::format("step {}: the program has no input \"{}\"", steps_, name));
  }
  // Run up to the kernel that finishes the loss, check it, then run the rest (which updates parameters,
  // possibly in place). Where updates could come earlier, the state is saved first and restored on failure.
  size_t ready = exe_->spec().readyAfter.count("loss") ? exe_->spec().readyAfter.at("loss") : exe_->spec().kernels.size();
  TensorFile saved;
  if (!exe_->spec().stateUntouchedUntilLoss && !allowNonFinite) saved = values();
  exe_->run(0, ready);
  StoredTensor l = exe_->output("loss");
  double loss = 0;
  if (l.dtype == "F32") {
    float f;
    std::memcpy(&f, l.bytes.data(), 4);
    loss = f;
  } else {
    std::memcpy(&loss, l.bytes.data(), 8);
  }
  if (!std::isfinite(loss) && !allowNonFinite) {
    for (const auto& [name, t] : saved) exe_->set(name, t);
    throw Error(fmt::format("step {}: the loss is {} (training stopped; parameters are those before this step)",
                            steps_, std::isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf"));
  }
  exe_->run(ready, exe_->spec().kernels.size());
  exe_->commitAliases();
  steps_++;
  return loss;
}

TensorFile Session::values() const {
  TensorFile out;
  for (const Buffer& b : exe_->spec().leaves) out[b.name] = exe_->get(b.name);
  return out;
}

void Session::save(const std::string& path) const { writeSafetensors(path, values()); }

void Session::load(const std::string& path) {
  TensorFile f = readSafetensors(path);
  for (const Buffer& b : exe_->spec().leaves)
    if (!f.count(b.name))
      throw Error(Location{path, 0, 0}, fmt::format("checkpoint has no tensor \"{}\" (is it from another model or optimizer?)", b.name));
  for (const auto& [name, t] : f) {
    bool known = false;
    for (const Buffer& b : exe_->spec().leaves) known |= b.name == name;
    if (!known) throw Error(Location{path, 0, 0}, fmt::format("checkpoint tensor \"{}\" is not a parameter or state of this program", name));
  }
  // Check every tensor before changing anything, so a bad checkpoint leaves the session as it was.
  for (const Buffer& b : exe_->spec().leaves) {
    const StoredTensor& t = f.at(b.name);
    if (t.dtype != b.dtype || t.shape != b.shape)
      throw Error(Location{path, 0, 0}, fmt::format("checkpoint tensor \"{}\" has the wrong dtype or shape", b.name));
  }
  for (const auto& [name, t] : f) exe_->set(name, t);
}

}  // namespace kiln
