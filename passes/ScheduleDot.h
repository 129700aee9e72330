// Graphviz DOT of a schedule: the graph as ir/Dot.h draws it, each kernel a cluster around its members.
#pragma once

#include <string>

#include "ir/Graph.h"
#include "passes/Fuse.h"

namespace kiln {

/// The DOT text of `g` with kernel N of `s` drawn as `subgraph cluster_N`, labelled "kernel N: KIND"
/// (and a "rows" kernel's stage kinds). A "rows" kernel holds the members of all its stages. Each node
/// is drawn in one cluster: the kernel that writes it to memory (Schedule::kernelOf), or for a broadcast
/// that every user inlines, the first kernel that lists it. Nodes in no kernel (leaves, constants, free
/// reshapes) stay outside. Precondition: `s` is the schedule of `g`.
std::string scheduleToDot(const Graph& g, const Schedule& s);

}  // namespace kiln
