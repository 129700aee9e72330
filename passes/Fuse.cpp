// Fusion by growing kernels from their roots, in reverse id order, then merging element-wise consumers into
// matmul and conv2d as epilogues; every edge left between kernels gets its reason.
#include "passes/Fuse.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {


bool isExpressionMember(const Graph& g, const FusedKernel& k, NodeId m) {
  Op op = g[m].op;
  if (k.kind == "elementwise" || k.kind == "reduction" || k.kind == "rows") return true;
  if (k.kind == "matmul" || k.kind == "conv2d") return op != Op::Matmul && op != Op::Conv2d;
  return false;
}

bool isSplatConstant(const Graph& g, NodeId c) {
  const Node& n = g[c];
  return n.op == Op::Constant && std::get<ConstAttrs>(n.attrs).values.size() == 1;
}

namespace {

bool isReduction(Op op) { return op == Op::ReduceSum || op == Op::ReduceMax; }
bool hostsEpilogue(Op op) { return op == Op::Matmul || op == Op::Conv2d; }

struct Fuser {
  explicit Fuser(const Graph& graph) : g(graph) {}
  const Graph& g;
  std::vector<std::vector<NodeId>> users = g.users();
  std::vector<int32_t> group = std::vector<int32_t>(size_t(g.size()), -1);  // non-broadcast members
  std::vector<FusedKernel> groups;
  std::vector<Shape> iteration;  // per group: the shape its loop nest runs over
  std::map<int32_t, std::vector<int32_t>> inlinedBy;  // broadcast -> groups that inline it
  std::vector<bool> isOutput = [&] {
    std::vector<bool> o(size_t(g.size()), false);
    for (const Output& out : g.outputs()) o[size_t(out.node.v)] = true;
    return o;
  }();

  bool inGroup(NodeId n, int32_t gi) const { return group[size_t(n.v)] == gi; }
  /// Whether every use of `p` is inside group gi (a graph output is a use outside every kernel).
  bool usersIn(NodeId p, int32_t gi) const {
    if (isOutput[size_t(p.v)]) return false;
    for (NodeId u : users[size_t(p.v)])
      if (!inGroup(u, gi)) return false;
    return !users[size_t(p.v)].empty();
  }

  /// Pulls element-wise producers (all of whose users are already in the group) and broadcasts into group gi.
  void grow(int32_t gi, std::vector<NodeId> work) {
    const Shape& shape = iteration[size_t(gi)];
    while (!work.empty()) {
      NodeId m = work.back();
      work.pop_back();
      for (NodeId p : g[m].inputs) {
        const Node& pn = g[p];
        if (pn.type.shape != shape || isFree(pn.op) || group[size_t(p.v)] >= 0) continue;
        if (pn.op == Op::Broadcast) {
          auto& by = inlinedBy[p.v];
          if (std::find(by.begin(), by.end(), gi) == by.end()) by.push_back(gi);
        } else if (isElementwise(pn.op) && canJoin(p, gi)) {
          group[size_t(p.v)] = gi;
          groups[size_t(gi)].nodes.push_back(p);
          work.push_back(p);
        }
      }
    }
  }

  /// An element-wise producer may join group gi if every user is in gi or in a kernel whose root comes
  /// after gi's root (that kernel runs later and reads the value from memory).
  bool canJoin(NodeId p, int32_t gi) const {
    for (NodeId u : users[size_t(p.v)]) {
      int32_t ug = group[size_t(u.v)];
      if (ug != gi && (ug < 0 || groups[size_t(ug)].root <= groups[size_t(gi)].root)) return false;
    }
    return true;
  }

  void formGroups() {
    for (int32_t i = g.size() - 1; i >= 0; --i) {
      const Node& n = g.nodes()[size_t(i)];
      if (isFree(n.op) || n.op == Op::Broadcast || group[size_t(i)] >= 0) continue;
      int32_t gi = int32_t(groups.size());
      group[size_t(i)] = gi;
      std::string kind = isElementwise(n.op) ? "elementwise" : isReduction(n.op) ? "reduction" : std::string(opName(n.op));
      groups.push_back({kind, NodeId{i}, {NodeId{i}}, {}, {}, {}, 1});
      iteration.push_back(isReduction(n.op) ? g[n.inputs[0]].type.shape : n.type.shape);
      if (isElementwise(n.op)) grow(gi, {NodeId{i}});
      if (isReduction(n.op)) grow(gi, {NodeId{i}});
    }
  }

  /// An element-wise kernel whose operand is a matmul or conv2d of its own shape, used only inside it,
  /// takes that node as its host: the kernel computes the contraction and applies the rest as an epilogue.
  void mergeEpilogues() {
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      if (groups[gi].kind != "elementwise") continue;
      for (size_t k = 0; k < groups[gi].nodes.size(); ++k) {
        NodeId m = groups[gi].nodes[k];
        for (NodeId p : g[m].inputs) {
          int32_t pg = group[size_t(p.v)];
          if (groups[gi].kind != "elementwise" || pg < 0 || !hostsEpilogue(g[p].op)) continue;
          if (g[p].type.shape != iteration[gi] || !usersIn(p, int32_t(gi))) continue;
          // users of p are all in gi: move p there and retire its own kernel
          group[size_t(p.v)] = int32_t(gi);
          groups[size_t(pg)].nodes.clear();
          groups[gi].nodes.push_back(p);
          groups[gi].kind = std::string(opName(g[p].op));
        }
      }
    }
  }

  std::string refusal(NodeId p, NodeId c, int32_t cg) const {
    const Node &pn = g[p], &cn = g[c];
    const FusedKernel& k = groups[size_t(cg)];
    bool elementwiseContext = isElementwise(cn.op) || (isReduction(cn.op) && k.root == c);
    if (!elementwiseContext) return fmt::format("{} reads its operands from memory", opName(cn.op));
    const Shape& shape = iteration[size_t(cg)];
    if (pn.type.shape != shape)
      return fmt::format("{} iterates {}, the consumer's kernel iterates {}", opName(pn.op), shapeStr(pn.type.shape), shapeStr(shape));
    if (hostsEpilogue(pn.op) && k.kind != "elementwise" && k.root != p)
      return fmt::format("{} hosts only element-wise epilogues, and the consumer's kernel is a {}", opName(pn.op), k.kind);
    if (!isElementwise(pn.op) && !hostsEpilogue(pn.op) && pn.op != Op::Broadcast)
      return fmt::format("{} results are written to memory (only element-wise producers and broadcasts fuse into consumers)",
                         opName(pn.op));
    int32_t pg = group[size_t(p.v)];
    if (pg >= 0 && groups[size_t(pg)].root != p)
      return fmt::format("%{} is fused into the earlier kernel of %{} ({}), which stores it", p.v, groups[size_t(pg)].root.v,
                         groups[size_t(pg)].kind);
    for (NodeId u : users[size_t(p.v)])
      if (!inGroup(u, cg)) return fmt::format("%{} is also used by %{} ({}) in another kernel", p.v, u.v, opName(g[u].op));
    if (isOutput[size_t(p.v)]) return fmt::format("%{} is a graph output, so it is written to memory", p.v);
    return "not fused";
  }

  Schedule finish() {
    Schedule s;
    s.kernelOf.assign(size_t(g.size()), -1);
    // Broadcasts that some user does not inline get a kernel of their own.
    for (int32_t i = 0; i < g.size(); ++i) {
      if (g.nodes()[size_t(i)].op != Op::Broadcast) continue;
      bool allInlined = !users[size_t(i)].empty() && !isOutput[size_t(i)];
      for (NodeId u : users[size_t(i)]) {
        auto& by = inlinedBy[i];
        allInlined &= group[size_t(u.v)] >= 0 && std::find(by.begin(), by.end(), group[size_t(u.v)]) != by.end();
      }
      if (!allInlined) {
        group[size_t(i)] = int32_t(groups.size());
        groups.push_back({"broadcast", NodeId{i}, {NodeId{i}}, {}, {}, {}, 1});
        iteration.push_back(g.nodes()[size_t(i)].type.shape);
      }
    }
    for (auto& [b, gs] : inlinedBy)
      for (int32_t gi : gs) groups[size_t(gi)].nodes.push_back(NodeId{b});
    std::vector<int32_t> order;
    for (size_t gi = 0; gi < groups.size(); ++gi)
      if (!groups[gi].nodes.empty()) order.push_back(int32_t(gi));
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return groups[size_t(a)].root < groups[size_t(b)].root; });
    std::vector<int32_t> position(groups.size(), -1);
    for (int32_t gi : order) {
      FusedKernel k = groups[size_t(gi)];
      std::sort(k.nodes.begin(), k.nodes.end());
      k.root = k.nodes.back();
      k.stores = {k.root};
      for (NodeId m : k.nodes)
        if (m != k.root && g[m].op != Op::Broadcast && !usersIn(m, gi)) k.stores.push_back(m);
      position[size_t(gi)] = int32_t(s.kernels.size());
      for (NodeId m : k.stores) s.kernelOf[size_t(m.v)] = int32_t(s.kernels.size());
      s.kernels.push_back(k);
    }
    for (int32_t c = 0; c < g.size(); ++c) {
      int32_t cg = group[size_t(c)];
      if (cg < 0) continue;
      for (NodeId p : g.nodes()[size_t(c)].inputs) {
        if (isFree(g[p].op) || group[size_t(p.v)] == cg) continue;
        auto& by = inlinedBy[p.v];
        if (g[p].op == Op::Broadcast && std::find(by.begin(), by.end(), cg) != by.end()) continue;
        s.refusals.push_back({p, NodeId{c}, refusal(p, NodeId{c}, cg)});
      }
    }
    return s;
  }
};

}  // namespace

Schedule fuse(const Graph& g) {
  Fuser f(g);
  f.formGroups();
  f.mergeEpilogues();
  Schedule s = f.finish();
  mergeRows(g, s);
  return s;
}

Schedule unfusedSchedule(const Graph& g) {
  Schedule s;
  s.kernelOf.assign(size_t(g.size()), -1);
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    if (isFree(n.op)) continue;
    s.kernelOf[size_t(i)] = int32_t(s.kernels.size());
    std::string kind = isElementwise(n.op) ? "elementwise" : isReduction(n.op) ? "reduction" : std::string(opName(n.op));
    s.kernels.push_back({kind, NodeId{i}, {NodeId{i}}, {NodeId{i}}, {}, {}, 1});
  }
  return s;
}

}  // namespace kiln
