// Simplification in two sweeps: rewrite (rules, then CSE) while copying nodes, then drop dead nodes.
#include "passes/Simplify.h"

#include <algorithm>
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
        if (NodeId r = adjacentPads(n); r.valid()) return r;
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
      case Op::Pad:
      case Op::Concat:
        if (NodeId r = padsAndConcats(n); r.valid()) return r;
        break;
      default:
        break;
    }
    return foldConstant(n);
  }

  /// pad(x) adding nothing -> x; concat(.., concat(a, b), ..) along one axis -> concat(.., a, b, ..).
  NodeId padsAndConcats(const Node& n) {
    if (n.op == Op::Pad) {
      auto& a = std::get<PadAttrs>(n.attrs);
      auto none = [](const std::vector<int64_t>& w) { return std::all_of(w.begin(), w.end(), [](int64_t x) { return x == 0; }); };
      if (none(a.lo) && none(a.hi)) return fired("pad(x) adding nothing -> x", n.inputs[0]);
      return {};
    }
    int64_t axis = std::get<AxisAttrs>(n.attrs).axis;
    std::vector<NodeId> flat;
    for (NodeId x : n.inputs) {
      const Node& xn = at(x);
      if (xn.op == Op::Concat && std::get<AxisAttrs>(xn.attrs).axis == axis) flat.insert(flat.end(), xn.inputs.begin(), xn.inputs.end());
      else flat.push_back(x);
    }
    if (flat.size() == n.inputs.size()) return {};
    return fired("concat(concat(a, b), c) -> concat(a, b, c)", made(Node{Op::Concat, n.type, flat, n.attrs, n.origin, 0}));
  }

  /// A sum of zero pads, pad(x1) + pad(x2) + ... in any order and grouping (the adds' operands gathered),
  /// alike but along one axis where their regions lie side by side -> pad(concat(x1, x2, ...)) in the
  /// regions' order: each element is one x's or 0 + 0 (the backward of slicing q, k and v out of one
  /// projection summed three zero-padded copies of it). Invalid if the sum is not such.
  NodeId adjacentPads(const Node& n) {
    std::vector<NodeId> leaves;
    std::vector<NodeId> todo(n.inputs.rbegin(), n.inputs.rend());
    while (!todo.empty() && leaves.size() <= 16) {
      NodeId x = todo.back();
      todo.pop_back();
      if (at(x).op == Op::Add) todo.insert(todo.end(), at(x).inputs.rbegin(), at(x).inputs.rend());
      else leaves.push_back(x);
    }
    if (!todo.empty()) return {};
    int64_t axis = -1;
    const PadAttrs* base = nullptr;
    for (NodeId x : leaves) {
      if (at(x).op != Op::Pad) return {};
      auto& a = std::get<PadAttrs>(at(x).attrs);
      if (a.value != 0.0) return {};
      if (!base) base = &a;
      for (size_t d = 0; d < a.lo.size(); ++d) {
        if (a.lo[d] == base->lo[d] && a.hi[d] == base->hi[d]) continue;
        if (axis >= 0 && axis != int64_t(d)) return {};  // they differ along two axes
        axis = int64_t(d);
      }
    }
    if (axis < 0) return {};
    size_t d = size_t(axis);
    auto lo = [&](NodeId x) { return std::get<PadAttrs>(at(x).attrs).lo[d]; };
    std::sort(leaves.begin(), leaves.end(), [&](NodeId a, NodeId b) { return lo(a) < lo(b); });
    std::vector<NodeId> pieces;
    Shape joined = at(at(leaves[0]).inputs[0]).type.shape;
    joined[d] = 0;
    for (NodeId x : leaves) {
      if (lo(x) != lo(leaves[0]) + joined[d]) return {};  // a gap or an overlap
      pieces.push_back(at(x).inputs[0]);
      joined[d] += at(pieces.back()).type.shape[d];
    }
    NodeId cat = made(Node{Op::Concat, Type{n.type.dtype, joined}, pieces, AxisAttrs{axis}, n.origin, 0});
    PadAttrs widths = std::get<PadAttrs>(at(leaves[0]).attrs);
    widths.hi[d] = std::get<PadAttrs>(at(leaves.back()).attrs).hi[d];
    return fired("pad(x) + pad(y) + ..., side by side -> pad(concat(x, y, ...))", made(Node{Op::Pad, n.type, {cat}, widths, n.origin, 0}));
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
