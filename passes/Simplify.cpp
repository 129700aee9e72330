// Simplification in two sweeps: rewrite (rules, then CSE) while copying nodes, then drop dead nodes.
#include "passes/Simplify.h"

#include <map>

#include <fmt/format.h>

#include "ir/Printer.h"
#include "ir/Scalar.h"

namespace kiln {

namespace {

/// The value of a splat constant (one value for every element), looking through broadcasts and reshapes.
std::optional<double> splat(const Graph& g, NodeId id) {
  const Node* n = &g[id];
  while (n->op == Op::Broadcast || n->op == Op::Reshape) n = &g[n->inputs[0]];
  if (n->op != Op::Constant) return std::nullopt;
  auto& v = std::get<ConstAttrs>(n->attrs).values;
  if (v.size() == 1) return v[0];
  for (double x : v)
    if (!(x == v[0])) return std::nullopt;
  return v.empty() ? std::nullopt : std::optional<double>(v[0]);
}

struct Rewriter {
  const Graph& in;
  Graph out;
  std::vector<NodeId> map;  // old id -> new id
  std::map<std::string, NodeId> seen;  // CSE key -> new id
  SimplifyStats stats;

  NodeId fired(const char* rule, NodeId result) {
    stats[rule]++;
    return result;
  }
  const Node& at(NodeId newId) const { return out[newId]; }

  /// A splat constant of `type` in the new graph (itself CSE'd).
  NodeId constant(double v, const Type& type, NodeId origin) {
    Node c{Op::Constant, type, {}, ConstAttrs{{roundTo(type.dtype, v)}}, origin, 0};
    return add(std::move(c));
  }

  /// A node a rule built, itself simplified: the rule's result may match a rule too (reshape(reshape(x))
  /// -> reshape(x) can be a reshape of x to x's own type), so one run leaves nothing for a second one.
  NodeId made(Node n) {
    NodeId r = rewrite(n);
    return r.valid() ? r : add(std::move(n));
  }

  /// Rules for node `n` whose operands are already new ids; a valid result replaces the node.
  NodeId rewrite(const Node& n) {
    auto operand = [&](size_t i) { return n.inputs[i]; };
    auto splatOf = [&](size_t i) { return splat(out, operand(i)); };
    switch (n.op) {
      case Op::Mul:
        if (splatOf(1) == 1.0) return fired("x * 1 -> x", operand(0));
        if (splatOf(0) == 1.0) return fired("1 * x -> x", operand(1));
        break;
      case Op::Add:
        if (splatOf(1) == 0.0) return fired("x + 0 -> x", operand(0));
        if (splatOf(0) == 0.0) return fired("0 + x -> x", operand(1));
        break;
      case Op::Sub:
        if (splatOf(1) == 0.0) return fired("x - 0 -> x", operand(0));
        break;
      case Op::Div:
        if (splatOf(1) == 1.0) return fired("x / 1 -> x", operand(0));
        break;
      case Op::Neg:
        if (at(operand(0)).op == Op::Neg) return fired("neg(neg(x)) -> x", at(operand(0)).inputs[0]);
        break;
      case Op::Reshape:
      case Op::Broadcast:
      case Op::Cast:
        if (at(operand(0)).type == n.type) return fired("reshape/broadcast/cast to the same type -> x", operand(0));
        if (n.op != Op::Cast && at(operand(0)).op == n.op)  // reshape(reshape(x)) -> reshape(x), likewise broadcast
          return fired("reshape(reshape(x)) -> reshape(x); broadcast(broadcast(x)) -> broadcast(x)",
                       made(Node{n.op, n.type, {at(operand(0)).inputs[0]}, n.attrs, n.origin, 0}));
        break;
      case Op::Permute: {
        auto& p = std::get<PermuteAttrs>(n.attrs).perm;
        bool identity = true;
        for (size_t i = 0; i < p.size(); ++i) identity &= p[i] == int64_t(i);
        if (identity) return fired("permute(x, identity) -> x", operand(0));
        if (at(operand(0)).op == Op::Permute) {  // permute(permute(x, p), q) -> permute(x, p[q[i]])
          auto& inner = std::get<PermuteAttrs>(at(operand(0)).attrs).perm;
          std::vector<int64_t> composed;
          bool identityAfter = true;
          for (int64_t q : p) composed.push_back(inner[size_t(q)]);
          for (size_t i = 0; i < composed.size(); ++i) identityAfter &= composed[i] == int64_t(i);
          if (identityAfter) return fired("permute(permute(x, p), q) -> x where p . q is the identity", at(operand(0)).inputs[0]);
          Node m{Op::Permute, n.type, {at(operand(0)).inputs[0]}, PermuteAttrs{composed}, n.origin, 0};
          return fired("permute(permute(x, p), q) -> permute(x, p . q)", made(std::move(m)));
        }
        break;
      }
      default:
        break;
    }
    return foldConstant(n);
  }

  /// Element-wise ops and broadcasts of splat constants fold to splat constants (no data grows).
  NodeId foldConstant(const Node& n) {
    if (n.op == Op::Broadcast || n.op == Op::Reshape) {
      if (auto v = splat(out, n.inputs[0])) return fired("fold: broadcast/reshape of a constant", constant(*v, n.type, n.origin));
      return {};
    }
    if (!isElementwise(n.op)) return {};
    std::vector<double> vals;
    for (NodeId i : n.inputs) {
      auto v = splat(out, i);
      if (!v) return {};
      vals.push_back(*v);
    }
    double r = 0;
    switch (opInfo(n.op).cls) {
      case OpClass::Unary: r = applyUnary(n.op, vals[0]); break;
      case OpClass::Binary:
        if (n.type.dtype == DType::I32 && (n.op == Op::Div || n.op == Op::Mul)) return {};  // run-time semantics
        r = applyBinary(n.op, vals[0], vals[1], n.type.dtype);
        break;
      case OpClass::Compare: r = applyCompare(n.op, vals[0], vals[1]); break;
      case OpClass::Select: r = vals[0] != 0 ? vals[1] : vals[2]; break;
      case OpClass::Cast:
        if (n.type.dtype == DType::I32) return {};  // NaN and range checks happen at run time
        r = vals[0];
        break;
      default: return {};
    }
    return fired("fold: element-wise op of constants", constant(r, n.type, n.origin));
  }

  /// Appends `n` (operands already new ids) unless an identical node exists.
  NodeId add(Node n) {
    if (isNamedLeaf(n.op)) return out.add(std::move(n));
    std::string key = fmt::format("{} {} {}", opName(n.op), n.type.str(), printAttrs(n.attrs));
    for (NodeId i : n.inputs) key += fmt::format(" %{}", i.v);
    auto it = seen.find(key);
    if (it != seen.end()) {
      stats["common subexpression"]++;
      return it->second;
    }
    NodeId id = out.add(std::move(n));
    seen[key] = id;
    return id;
  }

  void run() {
    for (int32_t i = 0; i < in.size(); ++i) {
      Node n = in.nodes()[size_t(i)];
      for (NodeId& x : n.inputs) x = map[size_t(x.v)];
      n.origin = n.origin.valid() ? map[size_t(n.origin.v)] : NodeId{};
      NodeId r = isNamedLeaf(n.op) ? NodeId{} : rewrite(n);
      map.push_back(r.valid() ? r : add(std::move(n)));
    }
    for (const Output& o : in.outputs())
      out.addOutput(o.name, map[size_t(o.node.v)], o.aliases.valid() ? map[size_t(o.aliases.v)] : NodeId{});
  }
};

/// Drops nodes no output depends on (named leaves stay: they are the program's interface).
Graph removeDead(const Graph& g, SimplifyStats& stats) {
  std::vector<bool> live(size_t(g.size()), false);
  for (const Output& o : g.outputs()) live[size_t(o.node.v)] = true;
  for (int32_t i = g.size() - 1; i >= 0; --i) {
    const Node& n = g.nodes()[size_t(i)];
    if (isNamedLeaf(n.op)) live[size_t(i)] = true;
    if (live[size_t(i)])
      for (NodeId x : n.inputs) live[size_t(x.v)] = true;
  }
  Graph out(g.name());
  std::vector<NodeId> map(size_t(g.size()));
  for (int32_t i = 0; i < g.size(); ++i) {
    if (!live[size_t(i)]) {
      stats["dead node"]++;
      continue;
    }
    Node n = g.nodes()[size_t(i)];
    for (NodeId& x : n.inputs) x = map[size_t(x.v)];
    n.origin = n.origin.valid() && live[size_t(n.origin.v)] ? map[size_t(n.origin.v)] : NodeId{};
    map[size_t(i)] = out.add(std::move(n));
  }
  for (const Output& o : g.outputs())
    out.addOutput(o.name, map[size_t(o.node.v)], o.aliases.valid() ? map[size_t(o.aliases.v)] : NodeId{});
  return out;
}

}  // namespace

Graph simplify(const Graph& g, SimplifyStats* stats) {
  Rewriter r{g, Graph(g.name()), {}, {}, {}};
  r.run();
  Graph out = removeDead(r.out, r.stats);
  if (stats) *stats = r.stats;
  return out;
}

std::string printSimplifyStats(const SimplifyStats& stats) {
  std::string s;
  for (const auto& [rule, count] : stats) s += fmt::format("{:>7}  {}\n", count, rule);
  return s.empty() ? "no rule fired\n" : s;
}

}  // namespace kiln
