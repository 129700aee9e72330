// Result types of ops: the one place that knows each op's shape and dtype rules.
#pragma once

#include <span>
#include <string>

#include "ir/Attrs.h"
#include "ir/Ops.h"
#include "ir/Types.h"

namespace kiln {

/// The outcome of inferring a node's type: the type, or a message naming the op, operand types and rule.
struct Inferred {
  Type type;          ///< the result type; a default Type when error is set
  std::string error;  ///< empty on success
  /// Whether inference succeeded.
  bool ok() const { return error.empty(); }
};

/// The result type of `op` over operands of types `in` with attributes `attrs`. For ops whose type is
/// declared (typeIsDeclared), `declared` is that type and is checked against the operands; otherwise it is
/// ignored. Checks arity, dtypes, shapes, attribute values and the result's size.
Inferred inferType(Op op, std::span<const Type> in, const Attrs& attrs, const Type& declared);

/// Whether `from` broadcasts to `to` numpy-style: ranks align on the right, each dim equal or 1.
bool broadcastsTo(const Shape& from, const Shape& to);

}  // namespace kiln
