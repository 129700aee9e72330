// Fusion by growing kernels from their roots, in reverse id order, then merging element-wise consumers into
// matmul and conv2d as epilogues; every edge left between kernels gets its reason.
#include "passes/Fuse.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {

namespace {
bool isReduction(Op op) { return opInfo(op).cls == OpClass::Reduction; }
bool hostsEpilogue(Op op) { return op == Op::Matmul || op == Op::Conv2d; }
/// The most nodes an element-wise or reduction kernel takes in: a chain of 1,000 exp in one kernel took
/// LLVM 5.3 s (300: 0.7 s); in kernels of 64 it compiles in time linear in its length. The models' largest
/// kernels hold 23.
constexpr size_t kMaxKernelNodes = 64;
}  // namespace

namespace {

struct Fuser {
  explicit Fuser(const Graph& graph) : g(graph) {}
  const Graph& g;
  std::vector<std::vector<NodeId>> users = g.users();
  std::vector<int32_t> group = std::vector<int32_t>(size_t(g.size()), -1);  // non-broadcast members
  std::vector<FusedKernel> groups;
  std::vector<Shape> iteration;  // per group: the shape its loop nest runs over
  std::map<int32_t, std::vector<int32_t>> inlinedBy;  // broadcast -> groups that inline it
  /// A refused edge: the deciding check's reason, or the group that took the producer (whose kernel then
  /// stores it; named in the reason once the schedule is final).
  struct Refusal {
    std::string reason;
    int32_t storedBy = -1;
    bool byUsers = false;  ///< refused because of the producer's other users, while it had no kernel yet
  };
  std::map<std::pair<int32_t, int32_t>, Refusal> refused;  // (producer, consumer) -> why
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
  /// Records the verdict on edge p -> c: a refusal keeps its reason, a fusion clears an earlier refusal.
  void decide(NodeId p, NodeId c, const FusionDecision& d, int32_t storedBy = -1, bool byUsers = false) {
    if (d) refused.erase({p.v, c.v});
    else refused[{p.v, c.v}] = {d.reason, storedBy, byUsers};
  }
  /// Producer p joins group gi: the edges to its users refused before because p's kernel was not known
  /// yet are now cut because gi stores p.
  void join(NodeId p, int32_t gi) {
    group[size_t(p.v)] = gi;
    groups[size_t(gi)].nodes.push_back(p);
    for (NodeId u : users[size_t(p.v)])
      if (auto it = refused.find({p.v, u.v}); it != refused.end() && it->second.byUsers) it->second.storedBy = gi;
  }
  /// Why an edge out of `p` stays cut once group gi stores it.
  std::string storedByReason(NodeId p, int32_t gi) const {
    const FusedKernel& k = groups[size_t(gi)];
    return fmt::format("%{} is fused into the earlier kernel of %{} ({}), which stores it", p.v, k.root.v, kindName(g, k));
  }

  /// Whether a user of `p` keeps it out of group gi: every user must be in gi, or in a kernel whose root
  /// comes after gi's root (that kernel runs later and reads the value from memory).
  FusionDecision usersAllow(NodeId p, int32_t gi) const {
    for (NodeId u : users[size_t(p.v)]) {
      int32_t ug = group[size_t(u.v)];
      if (ug != gi && (ug < 0 || groups[size_t(ug)].root <= groups[size_t(gi)].root))
        return FusionDecision::no(fmt::format("%{} is also used by %{} ({}) in another kernel", p.v, u.v, opName(g[u].op)));
    }
    return FusionDecision::yes();
  }

  /// Whether producer `p` of a member of group gi may join it, in element-wise context (the member is
  /// element-wise or the group's reduction root). Hosts of epilogues in element-wise groups of their shape
  /// are left to mergeEpilogues.
  FusionDecision joinDecision(NodeId p, int32_t gi) const {
    const Node& pn = g[p];
    const Shape& shape = iteration[size_t(gi)];
    if (pn.type.shape != shape)
      return FusionDecision::no(fmt::format("{} iterates {}, the consumer's kernel iterates {}", opName(pn.op),
                                            shapeStr(pn.type.shape), shapeStr(shape)));
    if (hostsEpilogue(pn.op))
      return FusionDecision::no(fmt::format("{} hosts only element-wise epilogues, and the consumer's kernel is a {}",
                                            opName(pn.op), kindName(g, groups[size_t(gi)])));
    if (!isElementwise(pn.op) && pn.op != Op::Broadcast)
      return FusionDecision::no(fmt::format(
          "{} results are written to memory (only element-wise producers and broadcasts fuse into consumers)", opName(pn.op)));
    if (group[size_t(p.v)] >= 0) return FusionDecision::no(storedByReason(p, group[size_t(p.v)]));
    if (pn.op == Op::Broadcast) return FusionDecision::yes();
    if (groups[size_t(gi)].nodes.size() >= kMaxKernelNodes)
      return FusionDecision::no(fmt::format("the consumer's kernel already holds {} nodes (LLVM's time grows faster than "
                                            "linearly in a kernel's size, so long chains are split)", kMaxKernelNodes));
    return usersAllow(p, gi);  // a graph output may join: the kernel stores it too
  }

  /// Pulls element-wise producers and broadcasts into group gi, deciding every operand edge of its members.
  void grow(int32_t gi, std::vector<NodeId> work) {
    while (!work.empty()) {
      NodeId m = work.back();
      work.pop_back();
      for (NodeId p : g[m].inputs) {
        if (isFree(g[p].op) || inGroup(p, gi)) continue;
        bool deferred = hostsEpilogue(g[p].op) && groups[size_t(gi)].kind == KernelKind::Elementwise &&
                        g[p].type.shape == iteration[size_t(gi)];
        if (deferred) continue;  // mergeEpilogues decides
        FusionDecision d = joinDecision(p, gi);
        bool byUsers = !d && group[size_t(p.v)] < 0 && isElementwise(g[p].op) && g[p].type.shape == iteration[size_t(gi)];
        decide(p, m, d, d ? -1 : group[size_t(p.v)], byUsers);
        if (!d) continue;
        if (g[p].op == Op::Broadcast) {
          auto& by = inlinedBy[p.v];
          if (std::find(by.begin(), by.end(), gi) == by.end()) by.push_back(gi);
        } else {
          join(p, gi);
          work.push_back(p);
        }
      }
    }
  }

  /// A new group rooted at node i: element-wise ops and reductions grow; the others read their operands
  /// from memory.
  void startGroup(int32_t i) {
    const Node& n = g.nodes()[size_t(i)];
    int32_t gi = int32_t(groups.size());
    group[size_t(i)] = gi;
    groups.push_back({kernelKindOf(n.op), NodeId{i}, {NodeId{i}}, {}, {}, {}, 1});
    iteration.push_back(isReduction(n.op) ? g[n.inputs[0]].type.shape : n.type.shape);
    if (isElementwise(n.op) || isReduction(n.op)) return grow(gi, {NodeId{i}});
    for (NodeId p : n.inputs)
      if (!isFree(g[p].op)) decide(p, NodeId{i}, FusionDecision::no(fmt::format("{} reads its operands from memory", opName(n.op))));
  }

  void formGroups() {
    for (int32_t i = g.size() - 1; i >= 0; --i) {
      const Node& n = g.nodes()[size_t(i)];
      if (!isFree(n.op) && n.op != Op::Broadcast && group[size_t(i)] < 0) startGroup(i);
    }
  }

  /// Whether matmul or conv2d `p` (of the group's shape) may host element-wise group gi as its epilogue.
  FusionDecision epilogueDecision(NodeId p, int32_t gi) const {
    const FusedKernel& k = groups[size_t(gi)];
    if (k.kind != KernelKind::Elementwise)
      return FusionDecision::no(fmt::format("{} hosts only element-wise epilogues, and the consumer's kernel is a {}",
                                            opName(g[p].op), kindName(g, k)));
    for (NodeId u : users[size_t(p.v)])
      if (!inGroup(u, gi)) return FusionDecision::no(fmt::format("%{} is also used by %{} ({}) in another kernel", p.v, u.v, opName(g[u].op)));
    if (isOutput[size_t(p.v)]) return FusionDecision::no(fmt::format("%{} is a graph output, so it is written to memory", p.v));
    return FusionDecision::yes();
  }

  /// An element-wise kernel whose operand is a matmul or conv2d of its own shape, used only inside it,
  /// takes that node as its host: the kernel computes the contraction and applies the rest as an epilogue.
  void mergeEpilogues() {
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      if (groups[gi].kind != KernelKind::Elementwise) continue;
      for (size_t k = 0; k < groups[gi].nodes.size(); ++k) {
        NodeId m = groups[gi].nodes[k];
        for (NodeId p : g[m].inputs) {
          int32_t pg = group[size_t(p.v)];
          if (pg < 0 || pg == int32_t(gi) || !hostsEpilogue(g[p].op) || g[p].type.shape != iteration[gi]) continue;
          FusionDecision d = epilogueDecision(p, int32_t(gi));
          decide(p, m, d);
          if (!d) continue;
          group[size_t(p.v)] = int32_t(gi);  // move p here and retire its own kernel
          groups[size_t(pg)].nodes.clear();
          groups[gi].nodes.push_back(p);
          groups[gi].kind = kernelKindOf(g[p].op);
        }
      }
    }
  }

  /// Broadcasts that some user does not inline get a kernel of their own.
  void materializeBroadcasts() {
    for (int32_t i = 0; i < g.size(); ++i) {
      if (g.nodes()[size_t(i)].op != Op::Broadcast) continue;
      bool allInlined = !users[size_t(i)].empty() && !isOutput[size_t(i)];
      for (NodeId u : users[size_t(i)]) {
        auto& by = inlinedBy[i];
        allInlined &= group[size_t(u.v)] >= 0 && std::find(by.begin(), by.end(), group[size_t(u.v)]) != by.end();
      }
      if (allInlined) continue;
      group[size_t(i)] = int32_t(groups.size());
      groups.push_back({KernelKind::Single, NodeId{i}, {NodeId{i}}, {}, {}, {}, 1});
      iteration.push_back(g.nodes()[size_t(i)].type.shape);
      NodeId x = g.nodes()[size_t(i)].inputs[0];
      if (!isFree(g[x].op)) decide(x, NodeId{i}, FusionDecision::no("broadcast reads its operands from memory"));
    }
    for (auto& [b, gs] : inlinedBy)
      for (int32_t gi : gs) groups[size_t(gi)].nodes.push_back(NodeId{b});
  }

  /// The kernels in the order of their roots, each with the members it stores.
  void orderKernels(Schedule& s) {
    std::vector<int32_t> order;
    for (size_t gi = 0; gi < groups.size(); ++gi)
      if (!groups[gi].nodes.empty()) order.push_back(int32_t(gi));
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return groups[size_t(a)].root < groups[size_t(b)].root; });
    for (int32_t gi : order) {
      FusedKernel k = groups[size_t(gi)];
      std::sort(k.nodes.begin(), k.nodes.end());
      k.root = k.nodes.back();
      k.stores = {k.root};
      for (NodeId m : k.nodes)
        if (m != k.root && g[m].op != Op::Broadcast && !usersIn(m, gi)) k.stores.push_back(m);
      for (NodeId m : k.stores) s.kernelOf[size_t(m.v)] = int32_t(s.kernels.size());
      s.kernels.push_back(k);
    }
  }

  Schedule finish() {
    materializeBroadcasts();
    Schedule s;
    s.kernelOf.assign(size_t(g.size()), -1);
    orderKernels(s);
    // Every edge left between kernels was refused by the check that decided it.
    for (int32_t c = 0; c < g.size(); ++c) {
      int32_t cg = group[size_t(c)];
      if (cg < 0) continue;
      for (NodeId p : g.nodes()[size_t(c)].inputs) {
        if (isFree(g[p].op) || group[size_t(p.v)] == cg) continue;
        auto& by = inlinedBy[p.v];
        if (g[p].op == Op::Broadcast && std::find(by.begin(), by.end(), cg) != by.end()) continue;
        auto it = refused.find({p.v, c});
        KILN_ASSERT(it != refused.end(), fmt::format("fuse: the edge %{} -> %{} was never decided", p.v, c));
        const Refusal& r = it->second;
        s.refusals.push_back({p, NodeId{c}, r.storedBy >= 0 ? storedByReason(p, r.storedBy) : r.reason});
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

}  // namespace kiln
