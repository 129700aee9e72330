// Assembler: turns nodes read from .kir text or JSON, with the ids their author wrote, into a Graph,
// checking ids, operand order, names and types. Shared by the text parser and the JSON reader.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/Error.h"
#include "ir/Graph.h"

namespace kiln {

/// A node as written: its author's id, operand ids, attributes and written type.
struct NodeDraft {
  int64_t id = 0;                 ///< the id as written (`%7`); any integer, unique in the graph
  Op op = Op::Constant;           ///< the op
  std::vector<int64_t> operands;  ///< written ids of earlier nodes
  Attrs attrs;                    ///< the attribute struct of `op`
  Type written;                   ///< the type the text gives; must equal the inferred one
  std::optional<int64_t> origin;  ///< `from %N`
  Location where;  ///< where the node starts, for errors
};

/// Builds a graph from drafts in order. Ids may be any distinct integers; they are renumbered densely.
class Assembler {
 public:
  /// Starts an empty graph called `graphName`.
  explicit Assembler(std::string graphName) : g_(std::move(graphName)) {}
  /// Appends a node. Throws Error at draft.where for a duplicate id, an operand or origin that is not
  /// defined above, an empty or taken leaf name, a type rule broken, or a written type that differs from
  /// the inferred one.
  void addNode(const NodeDraft& draft);
  /// Marks node `id` as the output `name`, replacing leaf `aliases` after a run when given.
  void addOutput(const std::string& name, int64_t id, std::optional<int64_t> aliases, const Location& where);
  /// The assembled graph, moved out: call it once, last.
  Graph finish() { return std::move(g_); }
  /// Renames the graph (a reader makes its assembler before it has read the graph's name, if any).
  void setName(std::string name) { g_.setName(std::move(name)); }

 private:
  Graph g_;
  std::unordered_map<int64_t, NodeId> ids_;
};

}  // namespace kiln
