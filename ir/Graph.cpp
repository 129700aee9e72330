// Graph storage and simple queries.
#include "ir/Graph.h"

#include "ir/Error.h"

namespace kiln {

NodeId Graph::add(Node node) {
  for (NodeId in : node.inputs)
    KILN_ASSERT(in.v >= 0 && in.v < size(), "operand id out of range in " + std::string(opName(node.op)));
  nodes_.push_back(std::move(node));
  return NodeId{size() - 1};
}

void Graph::addOutput(std::string name, NodeId node, NodeId aliases) {
  KILN_ASSERT(node.v >= 0 && node.v < size(), "output id out of range");
  KILN_ASSERT(aliases.v < size(), "aliased id out of range");
  outputs_.push_back({std::move(name), node, aliases});
}

void Graph::removeOutputs(const std::function<bool(const Output&)>& drop) {
  std::erase_if(outputs_, drop);
}

const Node& Graph::node(NodeId id) const {
  KILN_ASSERT(id.v >= 0 && id.v < size(), "node id out of range");
  return nodes_[size_t(id.v)];
}

std::vector<NodeId> Graph::nodesWithOp(Op op) const {
  std::vector<NodeId> out;
  for (int32_t i = 0; i < size(); ++i)
    if (nodes_[size_t(i)].op == op) out.push_back(NodeId{i});
  return out;
}

std::optional<NodeId> Graph::findLeaf(std::string_view name) const {
  for (int32_t i = 0; i < size(); ++i) {
    const Node& n = nodes_[size_t(i)];
    if (isNamedLeaf(n.op) && leafName(n) == name) return NodeId{i};
  }
  return std::nullopt;
}

std::optional<NodeId> Graph::findOutput(std::string_view name) const {
  for (const Output& o : outputs_)
    if (o.name == name) return o.node;
  return std::nullopt;
}

std::vector<std::vector<NodeId>> Graph::users() const {
  std::vector<std::vector<NodeId>> u(nodes_.size());
  for (int32_t i = 0; i < size(); ++i)
    for (NodeId in : nodes_[size_t(i)].inputs) u[size_t(in.v)].push_back(NodeId{i});
  return u;
}

const std::string& leafName(const Node& n) {
  if (auto* in = std::get_if<InputAttrs>(&n.attrs)) return in->name;
  if (auto* p = std::get_if<ParamAttrs>(&n.attrs)) return p->name;
  KILN_ASSERT(false, "leafName of a node that is not an input, parameter or state");
}

std::vector<NodeId> savedForBackward(const Graph& g) {
  std::vector<bool> saved(size_t(g.size()), false);
  for (const Node& n : g.nodes())
    if (n.origin.valid())
      for (NodeId in : n.inputs) {
        const Node& src = g[in];
        if (!src.origin.valid() && !isNamedLeaf(src.op) && src.op != Op::Constant && src.op != Op::Iota)
          saved[size_t(in.v)] = true;
      }
  std::vector<NodeId> out;
  for (int32_t i = 0; i < g.size(); ++i)
    if (saved[size_t(i)]) out.push_back(NodeId{i});
  return out;
}

}  // namespace kiln
