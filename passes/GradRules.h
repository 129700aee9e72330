// Gradient rules: for every op of the table, one case saying how the gradient of its result flows to its
// operands, written with the DSL so that the backward graph is ordinary IR.
#pragma once

#include <string>
#include <vector>

#include "ir/Builder.h"

namespace kiln {

/// Empty when the gradient flows from node `id` to its operand `i`; otherwise why not (an integer or bool
/// value, a comparison, an index operand, or an op without a gradient rule).
std::string nonDifferentiableReason(const Graph& g, NodeId id, size_t i);

/// The contributions of node `id` to its operands' gradients, given the gradient `gy` of its result.
/// Entry i is an empty Value where operand i receives none or `wanted[i]` is false (nothing is built for
/// operands that need no gradient). Nodes are added to `b`'s graph.
std::vector<Value> gradientRule(Builder& b, NodeId id, Value gy, const std::vector<bool>& wanted);

/// Sums `g` (of a broadcast result) back to `shape`, the broadcast's operand shape.
Value reduceToShape(Value g, const Shape& shape);

}  // namespace kiln
