// The Op enum and per-op facts, expanded from the table in ir/Ops.def.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "ir/Attrs.h"

namespace kiln {

/// Every op of the IR; see ir/Ops.def.
enum class Op : uint8_t {
#define KILN_OP(Id, name, arity, cls, attrs) Id,
#include "ir/Ops.def"
#undef KILN_OP
};

/// The broad kind of an op, which passes use to decide what they may do with it.
enum class OpClass : uint8_t { Leaf, Unary, Binary, Compare, Select, Cast, Movement, Reduction, Contraction, Window, Index };

/// Static facts about one op.
struct OpInfo {
  std::string_view name;  ///< the .kir spelling
  int arity;              ///< operand count, -1 for one or more
  OpClass cls;
};

/// The row of the table for `op`.
const OpInfo& opInfo(Op op);
/// The .kir name of `op`.
inline std::string_view opName(Op op) { return opInfo(op).name; }
/// The op spelled `name`, if any.
std::optional<Op> parseOp(std::string_view name);
/// All ops, in table order.
std::span<const Op> allOps();
/// The attribute struct `op` takes, default-constructed.
Attrs defaultAttrs(Op op);
/// Whether the op's result type is written by its user rather than inferred (leaves, cast, broadcast,
/// reshape, scatter_add and the gradients whose result shape is not implied by their operands): the printer
/// always writes types, and for these the type is part of the op.
bool typeIsDeclared(Op op);
/// Elementwise: unary, binary, compare, select and cast.
bool isElementwise(Op op);
/// Leaves whose values persist across runs and are fed by name: input, parameter, state.
inline bool isNamedLeaf(Op op) { return op == Op::Input || op == Op::Parameter || op == Op::State; }

}  // namespace kiln
