// The Op enum, one enum per op class, and the facts of every op, expanded from the table in ir/Ops.def.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "ir/Attrs.h"
#include "ir/Error.h"

namespace kiln {

/// Every op of the IR; see ir/Ops.def.
enum class Op : uint8_t {
#define KILN_OP(Id, name, arity, cls, attrs, ...) Id,
#include "ir/Ops.def"
};

/// The broad kind of an op, which passes use to decide what they may do with it.
enum class OpClass : uint8_t { Leaf, Unary, Binary, Compare, Select, Cast, Movement, Reduction, Contraction, Window, Index };

// One enum per class, holding that class's ops in table order. A consumer switches over OpClass and then
// over the class's enum, each with no `default`, so -Werror=switch flags an op a consumer does not handle.
/// The leaves.
enum class LeafOp : uint8_t {
#define KILN_LEAF(Id, ...) Id,
#include "ir/Ops.def"
};
/// The element-wise ops of one operand.
enum class UnaryOp : uint8_t {
#define KILN_UNARY(Id, ...) Id,
#include "ir/Ops.def"
};
/// The element-wise arithmetic ops of two operands.
enum class BinaryOp : uint8_t {
#define KILN_BINARY(Id, ...) Id,
#include "ir/Ops.def"
};
/// The comparisons.
enum class CompareOp : uint8_t {
#define KILN_COMPARE(Id, ...) Id,
#include "ir/Ops.def"
};
/// The movement ops.
enum class MovementOp : uint8_t {
#define KILN_MOVEMENT(Id, ...) Id,
#include "ir/Ops.def"
};
/// The reductions.
enum class ReductionOp : uint8_t {
#define KILN_REDUCTION(Id, ...) Id,
#include "ir/Ops.def"
};
/// The contractions.
enum class ContractionOp : uint8_t {
#define KILN_CONTRACTION(Id, ...) Id,
#include "ir/Ops.def"
};
/// The window ops and the gradients of conv2d and the poolings.
enum class WindowOp : uint8_t {
#define KILN_WINDOW(Id, ...) Id,
#include "ir/Ops.def"
};
/// The indexing ops.
enum class IndexOp : uint8_t {
#define KILN_INDEX(Id, ...) Id,
#include "ir/Ops.def"
};

/// Which operand dtypes an op's type rule accepts.
enum class OperandDtypes : uint8_t {
  AnyDtype,     ///< any dtype, bool included
  NumericOnly,  ///< f32, f64 or i32
  FloatOnly,    ///< f32 or f64
  IntOnly,      ///< i32
};
/// Where an op's result type comes from.
enum class TypeRule : uint8_t {
  Inferred,  ///< from the operands and attributes
  Declared,  ///< written by the user and part of the op (the printer always writes types anyway)
};
/// How autodiff treats an op.
enum class GradKind : uint8_t {
  HasRule,     ///< a gradient rule in passes/GradRules.cpp (operands in OpFacts::noGrad get none)
  Wrt,         ///< a leaf autodiff may differentiate against (input, parameter)
  NoGradient,  ///< a value with no gradient: a non-trained leaf, or a bool result
  NoRule,      ///< the op has no gradient rule; OpFacts::why says why
};
/// Where the tests draw the inputs of a unary op: where it is defined and smooth.
enum class Domain : uint8_t {
  AnyReal,        ///< any real number
  Positive,       ///< x > 0
  AwayFromKinks,  ///< distinct values away from 0 (abs has a kink there) and from each other
  Moderate,       ///< |x| small enough that the result stays in f32's range (exp)
};

/// The reason the gradient ops give for having no gradient rule.
inline constexpr std::string_view kNoSecondDerivatives = "it has no gradient rule (second derivatives are not supported)";

/// The facts of one op beyond its name, arity, class and attributes; see ir/Ops.def for each field.
struct OpFacts {
  OperandDtypes dtypes = OperandDtypes::AnyDtype;  ///< operand dtypes the class's type rule accepts
  TypeRule type = TypeRule::Inferred;              ///< whether the result type is inferred or written
  GradKind grad = GradKind::HasRule;               ///< how autodiff treats the op
  uint8_t noGrad = 0;           ///< bit i: operand i never gets a gradient
  std::string_view why = "";    ///< why those operands (or, for NoRule, the op) have no gradient
  bool noKernel = false;        ///< needs no kernel: in memory already, or a view of its operand
  int8_t indices = -1;          ///< the operand holding i32 row indices, or -1
  int8_t indexRange = -1;       ///< the operand whose dim 0 bounds the indices; -1 for the result
  Domain domain = Domain::AnyReal;  ///< unary ops: where the tests draw inputs
};

/// Static facts about one op: its row of the table.
struct OpInfo {
  std::string_view name;  ///< the .kir spelling
  int arity;              ///< operand count, -1 for one or more
  OpClass cls;            ///< the class, which also names the class enum the op belongs to
  OpFacts facts;          ///< the rest of the row
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
/// reshape, scatter_add and the gradients whose result shape is not implied by their operands).
inline bool typeIsDeclared(Op op) { return opInfo(op).facts.type == TypeRule::Declared; }
/// Elementwise: unary, binary, compare, select and cast.
bool isElementwise(Op op);
/// The leaves with a name, by which they are fed (input) or held across runs (parameter, state).
inline bool isNamedLeaf(Op op) { return op == Op::Input || op == Op::Parameter || op == Op::State; }
/// Whether a node needs no kernel of its own: inputs, parameters, state and constants live in memory
/// already, and a reshape is a view of its operand. (Iota is a leaf that does need one.)
inline bool isFree(Op op) { return opInfo(op).facts.noKernel; }

/// The position of `op` among the ops of its class: its value in the class's enum.
uint8_t indexInClass(Op op);
/// `op` as a value of its class's enum `E`; `op` must be of class `cls`.
template <class E>
E classOp(Op op, OpClass cls) {
  KILN_ASSERT(opInfo(op).cls == cls, "op of another class");
  return E(indexInClass(op));
}
/// `op` as a leaf.
inline LeafOp leafOp(Op op) { return classOp<LeafOp>(op, OpClass::Leaf); }
/// `op` as a unary op.
inline UnaryOp unaryOp(Op op) { return classOp<UnaryOp>(op, OpClass::Unary); }
/// `op` as a binary op.
inline BinaryOp binaryOp(Op op) { return classOp<BinaryOp>(op, OpClass::Binary); }
/// `op` as a comparison.
inline CompareOp compareOp(Op op) { return classOp<CompareOp>(op, OpClass::Compare); }
/// `op` as a movement op.
inline MovementOp movementOp(Op op) { return classOp<MovementOp>(op, OpClass::Movement); }
/// `op` as a reduction.
inline ReductionOp reductionOp(Op op) { return classOp<ReductionOp>(op, OpClass::Reduction); }
/// `op` as a contraction.
inline ContractionOp contractionOp(Op op) { return classOp<ContractionOp>(op, OpClass::Contraction); }
/// `op` as a window op.
inline WindowOp windowOp(Op op) { return classOp<WindowOp>(op, OpClass::Window); }
/// `op` as an indexing op.
inline IndexOp indexOp(Op op) { return classOp<IndexOp>(op, OpClass::Index); }

}  // namespace kiln
