// Graph: an append-only arena of typed nodes addressed by strong ids. A node refers only to ids that exist
// already, so id order is a topological order: no cycles, no toposort pass, copying a graph copies vectors.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ir/Attrs.h"
#include "ir/Ops.h"
#include "ir/Types.h"

namespace kiln {

/// The id of a node in its graph; printed as %N.
struct NodeId {
  int32_t v = -1;  ///< the index in Graph::nodes(); -1: no node (an absent origin or alias)
  /// Whether it names a node (it may still be out of range for a given graph).
  bool valid() const { return v >= 0; }
  /// Ids compare as their indices, which is topological order.
  auto operator<=>(const NodeId&) const = default;
};

/// One operation: its op, result type, operands and attributes.
struct Node {
  Op op = Op::Constant;        ///< what it computes
  Type type;                   ///< the result's dtype and shape, fixed when the node is built
  std::vector<NodeId> inputs;  ///< the operands, all earlier nodes, in the op's operand order
  Attrs attrs;                 ///< the alternative the op takes (see ir/Ops.def)
  /// For nodes made by a pass on behalf of another node (a backward node for its forward node, an
  /// optimizer update for its parameter): that node. Printed as a trailing `from %N`.
  NodeId origin;
  /// The .kir line the node was parsed from (0 when it was built in C++); used by diagnostics.
  int srcLine = 0;
};

/// A named result of the graph.
struct Output {
  std::string name;  ///< unique among the graph's outputs; "loss", "grad/NAME", a parameter's name, ...
  NodeId node;       ///< the node whose value it is
  /// The input, parameter or state leaf whose buffer this output replaces after a run (a donated buffer:
  /// the new parameters of a training step alias the old ones). Printed as `aliases %N`.
  NodeId aliases;
};

/// A computation graph. Nodes are only ever appended; passes build new graphs.
class Graph {
 public:
  /// An empty graph called `name`.
  explicit Graph(std::string name = "main") : name_(std::move(name)) {}

  /// Appends a node whose operands all exist already, returning its id. The caller has checked its type
  /// (Builder and Parser do, through inferType); the verifier re-checks everything.
  NodeId add(Node node);
  /// Marks `node` as the graph output called `name`, optionally replacing leaf `aliases` after a run.
  void addOutput(std::string name, NodeId node, NodeId aliases = {});
  /// Removes the outputs whose names satisfy `drop`.
  void removeOutputs(const std::function<bool(const Output&)>& drop);

  /// The node `id`; an id out of range is a bug (KILN_ASSERT), not an Error.
  const Node& node(NodeId id) const;
  /// Same as node(id).
  const Node& operator[](NodeId id) const { return node(id); }
  /// Every node, in id (topological) order; node i has id {i}.
  const std::vector<Node>& nodes() const { return nodes_; }
  /// The outputs, in the order they were added (the order the printer writes them).
  const std::vector<Output>& outputs() const { return outputs_; }
  /// The number of nodes.
  int32_t size() const { return int32_t(nodes_.size()); }
  /// The graph's name (`graph "mlp"` in .kir).
  const std::string& name() const { return name_; }
  /// Renames the graph.
  void setName(std::string name) { name_ = std::move(name); }

  /// Ids of the nodes with op `op`, in order (e.g. every input or parameter).
  std::vector<NodeId> nodesWithOp(Op op) const;
  /// The input, parameter or state leaf called `name`.
  std::optional<NodeId> findLeaf(std::string_view name) const;
  /// The output called `name`.
  std::optional<NodeId> findOutput(std::string_view name) const;
  /// For every node, the nodes that use it (in id order, once per use).
  std::vector<std::vector<NodeId>> users() const;

 private:
  std::string name_;
  std::vector<Node> nodes_;
  std::vector<Output> outputs_;
};

/// Forward nodes (no origin) that nodes made by passes use: for a training program, the activations the
/// backward pass keeps alive. Leaves and constants are not counted: they live for the whole run anyway.
std::vector<NodeId> savedForBackward(const Graph& g);

/// The name attribute of an input, parameter or state node.
const std::string& leafName(const Node& n);

}  // namespace kiln
