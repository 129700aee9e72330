// The verifier: checks every invariant of a graph and names the node that breaks one.
#pragma once

#include <string>
#include <vector>

#include "ir/Graph.h"

namespace kiln {

/// One message per violation, each naming the node (`%5 (add): ...`): operands that are not earlier
/// nodes, wrong arity, attributes of the wrong kind, a type that differs from the inferred one, an
/// invalid type, empty or duplicate leaf names, a `from` that is not an earlier node, outputs that name
/// no node, duplicate output names, aliases of a non-leaf, of another type, or of one leaf twice.
/// Empty when the graph is well formed.
std::vector<std::string> verify(const Graph& g);

/// Empty when output value `node` may alias leaf `leaf`: the leaf is an input, parameter or state and
/// both have one type. Otherwise the reason.
std::string checkAlias(const Graph& g, NodeId node, NodeId leaf);

/// Runs verify and throws one Error listing every violation (at `file`, the node's line when known).
void verifyOrThrow(const Graph& g, const std::string& file = "");

}  // namespace kiln
