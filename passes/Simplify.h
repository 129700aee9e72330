// simplify: constant folding, algebraic identities, movement-chain collapsing, common-subexpression and
// dead-node elimination.
#pragma once

#include <map>
#include <string>

#include "ir/Graph.h"

namespace kiln {

/// How often each rule fired, by rule name.
using SimplifyStats = std::map<std::string, int64_t>;

/// Returns a graph computing the same outputs as `g` with fewer nodes. Precondition: `g` verifies.
/// Postcondition: the result verifies; outputs, their names and aliases, and every input, parameter and
/// state leaf (even unused) are kept; provenance survives where the node does.
///
/// NaN/Inf policy: a rule is applied only if it gives the same value for every input, NaN and ±inf
/// included; the one liberty taken is the sign of a zero result (x + 0 -> x turns -0 + 0 = +0 into -0, which
/// compares equal). So x * 1 -> x and x + 0 -> x are rules, but x * 0 -> 0 and x - x -> 0 are not (inf * 0
/// and inf - inf are NaN). Constant folding computes in f64 and rounds to the node's dtype, as the
/// interpreter does.
Graph simplify(const Graph& g, SimplifyStats* stats = nullptr);

/// "rule: count" lines, sorted by rule name.
std::string printSimplifyStats(const SimplifyStats& stats);

}  // namespace kiln
