// The interpreter-backed training session.
#include "compiler/InterpSession.h"

#include <cmath>

#include <fmt/format.h>

#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

namespace kiln {

InterpSession::InterpSession(Graph program, uint64_t seed, Precision precision)
    : program_(std::move(program)), precision_(precision) {
  verifyOrThrow(program_);
  auto loss = program_.findOutput("loss");
  if (!loss || program_[*loss].type.rank() != 0 || !isFloat(program_[*loss].type.dtype))
    throw Error("session: the program needs a float scalar output \"loss\"");
  values_ = initParameters(program_, seed);
}

TensorMap InterpSession::step(const TensorMap& batch) {
  TensorMap feeds = values_;
  for (NodeId id : program_.nodesWithOp(Op::Input)) {
    const std::string& name = leafName(program_[id]);
    auto it = batch.find(name);
    if (it == batch.end()) throw Error(fmt::format("step {}: input \"{}\" is missing from the batch", steps_, name));
    feeds[name] = it->second;
  }
  TensorMap out = evaluate(program_, feeds, precision_);
  double l = loss(out);
  if (!std::isfinite(l) && !allowNonFinite)
    throw Error(fmt::format("step {}: the loss is {} (training stopped; parameters are those before this step)",
                            steps_, printNumber(l)));
  for (const Output& o : program_.outputs())
    if (o.aliases.valid()) values_[leafName(program_[o.aliases])] = out.at(o.name);
  steps_++;
  return out;
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
