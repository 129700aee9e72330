// Graphviz DOT of a graph: node labels, shapes for leaves, colours for forward, backward and optimizer
// nodes, data, provenance and alias edges, and clusters given by the caller.
#include "ir/Dot.h"

#include <algorithm>
#include <variant>

#include <fmt/format.h>

#include "ir/Printer.h"

namespace kiln {

namespace {

/// Fill and border colours of a role.
struct RoleStyle {
  const char* fill;
  const char* border;
};

RoleStyle styleOf(NodeRole role) {
  switch (role) {
    case NodeRole::Forward: return {"#dce8fa", "#3a6db5"};
    case NodeRole::Backward: return {"#fde1c8", "#c4601a"};
    case NodeRole::Optimizer: return {"#d6f0d6", "#2d8a3a"};
  }
  return {"white", "black"};
}

/// The Graphviz shape of a node: leaves apart from ops, each kind of leaf apart from the others.
const char* shapeOf(Op op) {
  switch (op) {
    case Op::Input: return "invhouse";
    case Op::Parameter: return "cylinder";
    case Op::State: return "box3d";
    case Op::Constant: return "ellipse";
    default: return "box";
  }
}

/// The length of the UTF-8 sequence starting at `s[i]`, or 0 when it is not a well-formed one.
size_t utf8Length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return uint8_t(s[k]); };
  uint8_t lead = byte(i);
  size_t n = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = i + 1; k < i + n; ++k)
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
  return n;
}

/// The label of node `id`: `%3 matmul` over its type; a leaf adds its name as .kir writes it, a constant
/// its value when all its elements have one.
std::string nodeLabel(const Graph& g, NodeId id) {
  const Node& n = g[id];
  std::string head = fmt::format("%{} {}", id.v, opName(n.op));
  if (isNamedLeaf(n.op)) {
    head += " " + quote(leafName(n));
  } else if (const auto* c = std::get_if<ConstAttrs>(&n.attrs)) {
    bool splat = !c->values.empty() &&
                 std::all_of(c->values.begin(), c->values.end(), [&](double v) { return v == c->values[0]; });
    if (splat) head += " " + printNumber(c->values[0]);
  }
  return dotEscape(head) + "\\n" + dotEscape(n.type.str());
}

/// The statement that declares node `id`.
std::string nodeStatement(const Graph& g, NodeId id, NodeRole role) {
  const Node& n = g[id];
  RoleStyle st = styleOf(role);
  bool leaf = isNamedLeaf(n.op) || n.op == Op::Constant;
  return fmt::format("n{} [label=\"{}\", shape={}, style=\"{}\", fillcolor=\"{}\", color=\"{}\", class=\"{}\"];\n",
                     id.v, nodeLabel(g, id), shapeOf(n.op), leaf ? "filled" : "rounded,filled", st.fill, st.border,
                     roleName(role));
}

/// The clusters' statements, each node in the first cluster that lists it; marks the nodes drawn.
std::string clusterStatements(const Graph& g, const std::vector<DotCluster>& clusters,
                              const std::vector<NodeRole>& roles, std::vector<bool>& drawn) {
  std::string out;
  for (size_t k = 0; k < clusters.size(); ++k) {
    out += fmt::format("  subgraph cluster_{} {{\n    label=\"{}\";\n    style=\"rounded\";\n    color=\"#808080\";\n",
                       k, dotEscape(clusters[k].label));
    for (NodeId id : clusters[k].nodes) {
      if (!id.valid() || id.v >= g.size() || drawn[size_t(id.v)]) continue;
      drawn[size_t(id.v)] = true;
      out += "    " + nodeStatement(g, id, roles[size_t(id.v)]);
    }
    out += "  }\n";
  }
  return out;
}

/// Data edges operand -> user (one per use) and provenance edges node -> origin.
std::string edgeStatements(const Graph& g) {
  std::string out;
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    for (NodeId in : n.inputs) out += fmt::format("  n{} -> n{};\n", in.v, i);
    if (n.origin.valid())
      out += fmt::format("  n{} -> n{} [style=dashed, color=\"#909090\", arrowhead=empty, constraint=false, "
                         "class=\"origin\"];\n", i, n.origin.v);
  }
  return out;
}

/// Output boxes, the edge from each output's node and the `aliases` edge to the leaf it replaces.
std::string outputStatements(const Graph& g) {
  std::string out;
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    const Output& o = g.outputs()[k];
    out += fmt::format("  out{} [label=\"{}\", shape=box, style=\"bold\", class=\"output\"];\n", k,
                       dotEscape("output " + quote(o.name)));
    out += fmt::format("  n{} -> out{};\n", o.node.v, k);
    if (o.aliases.valid())
      out += fmt::format("  out{} -> n{} [style=dashed, label=\"aliases\", constraint=false, class=\"aliases\"];\n",
                         k, o.aliases.v);
  }
  return out;
}

}  // namespace

std::string_view roleName(NodeRole role) {
  switch (role) {
    case NodeRole::Forward: return "forward";
    case NodeRole::Backward: return "backward";
    case NodeRole::Optimizer: return "optimizer";
  }
  return "forward";
}

std::vector<NodeRole> nodeRoles(const Graph& g) {
  std::vector<NodeRole> roles(size_t(g.size()), NodeRole::Forward);
  bool afterStep = false;
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    if (!afterStep && n.op == Op::State && leafName(n) == "optimizer.step") {
      afterStep = true;
      roles[size_t(i)] = NodeRole::Optimizer;
    } else if (n.origin.valid()) {
      roles[size_t(i)] = afterStep ? NodeRole::Optimizer : NodeRole::Backward;
    }
  }
  return roles;
}

std::string graphToDot(const Graph& g, const std::vector<DotCluster>& clusters) {
  std::vector<NodeRole> roles = nodeRoles(g);
  std::string out = fmt::format("digraph \"{}\" {{\n", dotEscape(g.name()));
  out += "  // fill colours: forward blue, backward orange, optimizer green; dashed grey edges point to origins\n";
  out += "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=11];\n";
  out += "  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n";
  std::vector<bool> drawn(size_t(g.size()), false);
  out += clusterStatements(g, clusters, roles, drawn);
  for (int32_t i = 0; i < g.size(); ++i)
    if (!drawn[size_t(i)]) out += "  " + nodeStatement(g, NodeId{i}, roles[size_t(i)]);
  out += edgeStatements(g);
  out += outputStatements(g);
  return out + "}\n";
}

std::string dotEscape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    auto c = uint8_t(text[i]);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c >= 0x20 && c < 0x7F) {
      out += char(c);
    } else if (size_t n = c >= 0x80 ? utf8Length(text, i) : 0; n > 0) {
      out.append(text.substr(i, n));
      i += n;
      continue;
    } else {
      out += fmt::format("\\\\x{:02x}", c);  // an escaped backslash: Graphviz shows "\xNN" as written
    }
    ++i;
  }
  return out;
}

}  // namespace kiln
