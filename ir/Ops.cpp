// The op table expanded into lookups.
#include "ir/Ops.h"

#include <array>

namespace kiln {

namespace {
constexpr OpInfo kInfos[] = {
#define KILN_OP(Id, name, arity, cls, attrs) {name, arity, OpClass::cls},
#include "ir/Ops.def"
#undef KILN_OP
};
constexpr Op kAll[] = {
#define KILN_OP(Id, name, arity, cls, attrs) Op::Id,
#include "ir/Ops.def"
#undef KILN_OP
};
}  // namespace

const OpInfo& opInfo(Op op) { return kInfos[size_t(op)]; }

std::optional<Op> parseOp(std::string_view name) {
  for (Op op : kAll)
    if (opInfo(op).name == name) return op;
  return std::nullopt;
}

std::span<const Op> allOps() { return kAll; }

Attrs defaultAttrs(Op op) {
  switch (op) {
#define KILN_OP(Id, name, arity, cls, attrs) \
  case Op::Id: return attrs{};
#include "ir/Ops.def"
#undef KILN_OP
  }
  return NoAttrs{};
}

bool typeIsDeclared(Op op) {
  OpClass c = opInfo(op).cls;
  return c == OpClass::Leaf || c == OpClass::Cast || op == Op::Broadcast || op == Op::Reshape ||
         op == Op::ScatterAdd || op == Op::Conv2dGradInput || op == Op::Conv2dGradWeight || op == Op::AvgPool2dGrad;
}

bool isElementwise(Op op) {
  OpClass c = opInfo(op).cls;
  return c == OpClass::Unary || c == OpClass::Binary || c == OpClass::Compare || c == OpClass::Select ||
         c == OpClass::Cast;
}

}  // namespace kiln
