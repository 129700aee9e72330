// Graphviz DOT of a graph: every node with its id, op and type, data edges operand -> user, provenance
// (`from %N`) as dashed edges, outputs as named boxes, and optional clusters (the kernels of a schedule,
// drawn by passes/ScheduleDot.h). Nodes are styled by what made them: the model, autodiff or the optimizer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ir/Graph.h"

namespace kiln {

/// What made a node: the model (forward), autodiff (backward) or the optimizer.
enum class NodeRole { Forward, Backward, Optimizer };

/// "forward", "backward" or "optimizer" (the `class` attribute of a node in the DOT).
std::string_view roleName(NodeRole role);

/// The role of every node, by this rule. A node without an origin is forward. The optimizer appends its
/// nodes after autodiff's, starting with its step counter, the state leaf `optimizer.step`, and every
/// pass (simplify included) keeps the order of the nodes it keeps. So a node with an origin is an
/// optimizer node when it comes after `optimizer.step`, and a backward node otherwise; `optimizer.step`
/// itself is an optimizer node. (Origins alone do not decide it: autodiff's sum of a parameter's
/// gradient contributions and the optimizer's update of that parameter both record the parameter.)
std::vector<NodeRole> nodeRoles(const Graph& g);

/// A group of nodes drawn in one box (a Graphviz `subgraph cluster_N`).
struct DotCluster {
  std::string label;          ///< the box's caption
  std::vector<NodeId> nodes;  ///< its members, in any order
};

/// The DOT text of `g`. Node `%N` is the DOT node `nN`, labelled with its id, op (a leaf's name, a
/// constant's value when it has one) and type; leaves (input, parameter, state, constant) have shapes of
/// their own and every node a fill colour and a `class` for its role. Output K is the box `outK`, with an
/// edge from its node and a dashed `aliases` edge to the leaf it replaces. A node listed in several
/// `clusters` is drawn in the first; nodes in none are drawn outside every cluster.
std::string graphToDot(const Graph& g, const std::vector<DotCluster>& clusters = {});

/// `text` as the inside of a DOT double-quoted string: backslashes and quotes escaped, line breaks as
/// `\n`, other control bytes and bytes that are not UTF-8 written as `\xNN` (shown literally).
std::string dotEscape(std::string_view text);

}  // namespace kiln
