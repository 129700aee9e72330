// The op table expanded into lookups.
#include "ir/Ops.h"

#include <array>

namespace kiln {

namespace {
using enum OperandDtypes;
using enum TypeRule;
using enum GradKind;
using enum Domain;

constexpr OpInfo kInfos[] = {
#define KILN_OP(Id, name, arity, cls, attrs, ...) {#name, arity, OpClass::cls, OpFacts{__VA_ARGS__}},
#include "ir/Ops.def"
};
constexpr Op kAll[] = {
#define KILN_OP(Id, name, arity, cls, attrs, ...) Op::Id,
#include "ir/Ops.def"
};

/// For every op, how many ops of its class come before it in the table.
constexpr std::array<uint8_t, std::size(kInfos)> kIndexInClass = [] {
  std::array<uint8_t, std::size(kInfos)> index{};
  for (size_t i = 0; i < std::size(kInfos); ++i)
    for (size_t j = 0; j < i; ++j)
      if (kInfos[j].cls == kInfos[i].cls) ++index[i];
  return index;
}();
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
#define KILN_OP(Id, name, arity, cls, attrs, ...) \
  case Op::Id: return attrs{};
#include "ir/Ops.def"
  }
  return NoAttrs{};
}

bool isElementwise(Op op) {
  OpClass c = opInfo(op).cls;
  return c == OpClass::Unary || c == OpClass::Binary || c == OpClass::Compare || c == OpClass::Select ||
         c == OpClass::Cast;
}

uint8_t indexInClass(Op op) { return kIndexInClass[size_t(op)]; }

// The class enums and Op list their ops in the same table order, so an index within a class names the same
// op in both; checked for every op.
#define KILN_CHECK_CLASS_INDEX(E, Id) static_assert(uint8_t(E::Id) == kIndexInClass[size_t(Op::Id)]);
#define KILN_LEAF(Id, ...) KILN_CHECK_CLASS_INDEX(LeafOp, Id)
#define KILN_UNARY(Id, ...) KILN_CHECK_CLASS_INDEX(UnaryOp, Id)
#define KILN_BINARY(Id, ...) KILN_CHECK_CLASS_INDEX(BinaryOp, Id)
#define KILN_COMPARE(Id, ...) KILN_CHECK_CLASS_INDEX(CompareOp, Id)
#define KILN_MOVEMENT(Id, ...) KILN_CHECK_CLASS_INDEX(MovementOp, Id)
#define KILN_REDUCTION(Id, ...) KILN_CHECK_CLASS_INDEX(ReductionOp, Id)
#define KILN_CONTRACTION(Id, ...) KILN_CHECK_CLASS_INDEX(ContractionOp, Id)
#define KILN_WINDOW(Id, ...) KILN_CHECK_CLASS_INDEX(WindowOp, Id)
#define KILN_INDEX(Id, ...) KILN_CHECK_CLASS_INDEX(IndexOp, Id)
#include "ir/Ops.def"
#undef KILN_CHECK_CLASS_INDEX

}  // namespace kiln
