// The canonical .kir text form. print(parse(text)) == text for everything printGraph emits.
#pragma once

#include <string>

#include "ir/Graph.h"

namespace kiln {

/// The .kir format version written in the header line and accepted by the parser.
inline constexpr int kIrVersion = 1;

/// The whole graph as canonical .kir text (see docs/IR.md). A graph with backward nodes ends with comment
/// lines listing the forward activations they keep alive (printSavedForBackward).
std::string printGraph(const Graph& g);
/// "# saved for backward: N activations, B bytes" and one comment line per activation; "" if none.
std::string printSavedForBackward(const Graph& g);
/// One node's line without the trailing newline: `%3 = add %1, %2 : f32[4]` (then ` from %N` for a node
/// made on behalf of node N).
std::string printNode(const Graph& g, NodeId id);
/// The attributes of a node as `{key=value, ...}`, or "" when it has none to print.
std::string printAttrs(const Attrs& attrs);
/// A double the way .kir writes it: shortest round-trip digits, or nan, inf, -inf.
std::string printNumber(double v);
/// A string literal with escapes.
std::string quote(const std::string& s);

}  // namespace kiln
