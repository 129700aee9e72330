// The interpreter's session: the program evaluated by the reference interpreter, its parameters and state
// held between runs.
#include "compiler/InterpSession.h"

#include <cmath>

#include <fmt/format.h>

#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "ir/Verifier.h"

namespace kiln {

InterpSession::InterpSession(Graph program, uint64_t seed, Precision precision)
    : program_(std::move(program)), precision_(precision) {
  verifyOrThrow(program_);
  values_ = initParameters(program_, seed);
}

TensorMap InterpSession::step(const TensorMap& inputs) {
  TensorMap feeds = values_;
  for (NodeId id : program_.nodesWithOp(Op::Input)) {
    const std::string& name = leafName(program_[id]);
    auto it = inputs.find(name);
    if (it == inputs.end()) throw Error(fmt::format("step {}: input \"{}\" is missing from the batch", steps_, name));
    feeds[name] = it->second;
  }
  TensorMap out = evaluate(program_, feeds, precision_);
  if (hasLoss()) {
    double l = out.at(loss_).data.at(0);
    if (!std::isfinite(l)) throw NonFiniteLoss(steps_, l);
  }
  for (const Output& o : program_.outputs())
    if (o.aliases.valid()) values_[leafName(program_[o.aliases])] = out.at(o.name);
  steps_++;
  return out;
}

bool InterpSession::hasScalarOutput(const std::string& name) const {
  auto o = program_.findOutput(name);
  return o && program_[*o].type.rank() == 0 && isFloat(program_[*o].type.dtype);
}

TensorFile InterpSession::run(const TensorFile& inputs) {
  TensorMap in;
  for (const auto& [name, t] : inputs) {
    auto id = program_.findLeaf(name);
    if (!id || program_[*id].op != Op::Input) throw Error(fmt::format("step {}: the program has no input \"{}\"", steps_, name));
    in[name] = fromStored(t, name);
  }
  return toStored(step(in));
}

std::vector<TensorSpec> InterpSession::stateSpec() const {
  std::vector<TensorSpec> spec;
  for (const auto& [name, v] : values_) spec.push_back({name, storedDtype(v.dtype), v.shape});
  return spec;
}

const HostTensor& InterpSession::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw Error(fmt::format("session: no parameter or state is called \"{}\"", name));
  return it->second;
}

void InterpSession::set(const std::string& name, const HostTensor& value) {
  auto id = program_.findLeaf(name);
  if (!id || program_[*id].op == Op::Input)
    throw Error(fmt::format("session: no parameter or state is called \"{}\"", name));
  const Type& t = program_[*id].type;
  if (value.shape != t.shape || value.dtype != t.dtype || value.numel() != t.numel())
    throw Error(fmt::format("session: \"{}\" is {}, got {}", name, t.str(), value.type().str()));
  values_[name] = value;
}

}  // namespace kiln
