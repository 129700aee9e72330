// The memory plan's validator, independent of the planner: lifetimes are recomputed from the schedule and
// every pair of values live at the same time is checked for shared bytes, at their real element sizes.
#include <algorithm>

#include <fmt/format.h>

#include "passes/PlanMemory.h"

namespace kiln {

namespace {

NodeId storage(const Graph& g, NodeId n) {
  while (g[n].op == Op::Reshape) n = g[n].inputs[0];
  return n;
}

/// A value that has bytes in the arena: [offset, offset + bytes), live over kernels [def, last].
struct Life {
  NodeId node;
  int64_t offset = 0, bytes = 0;
  int32_t def = -2, last = -2;
};

bool contains(const FusedKernel& k, NodeId n) { return std::find(k.nodes.begin(), k.nodes.end(), n) != k.nodes.end(); }

/// Every value with memory and its lifetime from the schedule alone: a leaf or constant from before the
/// run; a value from the kernel that writes it (or uses it as scratch) to the last kernel that reads it
/// from memory.
/// Outputs, and parameters, state and constants the run does not replace in place, live to the end (K);
/// a leaf replaced by an aliasing output that lands on it lives until its last read.
std::vector<Life> lifetimes(const Graph& g, const Schedule& s, const MemoryPlan& p) {
  int32_t K = int32_t(s.kernels.size());
  std::vector<Life> life(size_t(g.size()));
  std::vector<bool> replacedInPlace(size_t(g.size()), false);
  for (const Output& o : g.outputs())
    if (o.aliases.valid() && p.offsetOf[size_t(storage(g, o.node).v)] == p.offsetOf[size_t(o.aliases.v)])
      replacedInPlace[size_t(o.aliases.v)] = true;
  for (int32_t i = 0; i < g.size(); ++i) {
    Op op = g.nodes()[size_t(i)].op;
    if (isNamedLeaf(op) || op == Op::Constant) life[size_t(i)].def = -1;
    if ((op == Op::Parameter || op == Op::State || op == Op::Constant) && !replacedInPlace[size_t(i)]) life[size_t(i)].last = K;
  }
  auto read = [&](NodeId n, int32_t k) { life[size_t(n.v)].last = std::max(life[size_t(n.v)].last, k); };
  for (int32_t k = 0; k < K; ++k)
    for (NodeId st : s.kernels[size_t(k)].stores)
      if (life[size_t(st.v)].def == -2) life[size_t(st.v)].def = k;
  for (int32_t k = 0; k < K; ++k) {
    const FusedKernel& kn = s.kernels[size_t(k)];
    for (NodeId m : kn.nodes) {
      if (life[size_t(m.v)].def == -2 && g[m].op != Op::Broadcast && p.offsetOf[size_t(m.v)] >= 0) life[size_t(m.v)].def = k;
      // Only the element expression computes members in registers; a matmul or conv2d (and an unfused
      // kernel's op) reads every operand from memory, a broadcast member included.
      bool expr = isExpressionMember(g, kn, m);
      for (NodeId in : g[m].inputs)
        if (!expr || !contains(kn, storage(g, in))) read(storage(g, in), k);
    }
    for (NodeId st : kn.stores) read(st, k);
  }
  for (const Output& o : g.outputs()) read(storage(g, o.node), K);
  std::vector<Life> out;
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    Life& l = life[size_t(i)];
    if (n.op == Op::Reshape || p.offsetOf[size_t(i)] < 0 || l.def == -2 || n.type.bytes() == 0) continue;
    l.node = NodeId{i};
    l.offset = p.offsetOf[size_t(i)];
    l.bytes = n.type.bytes();
    l.last = std::max(l.last, l.def);
    out.push_back(l);
  }
  return out;
}

/// Whether kernel k may write `newer` over `older` in place: older dies in k, newer is written there by
/// the kernel's element expression at the same offset with the same element count and size, and every read
/// of older in k is an expression member's read of it (or of a reshape of it) at the element being written.
bool legalInPlace(const Graph& g, const Schedule& s, const Life& older, const Life& newer) {
  if (newer.def < 0 || older.last != newer.def || older.offset != newer.offset) return false;
  const FusedKernel& kn = s.kernels[size_t(newer.def)];
  if (kn.kind != KernelKind::Elementwise && kn.kind != KernelKind::Matmul && kn.kind != KernelKind::Conv2d) return false;
  if (!isExpressionMember(g, kn, newer.node) || g[newer.node].op == Op::Broadcast) return false;
  const Type &a = g[older.node].type, &b = g[newer.node].type;
  if (a.numel() != b.numel() || dtypeSize(a.dtype) != dtypeSize(b.dtype)) return false;
  for (NodeId m : kn.nodes)
    for (NodeId in : g[m].inputs)
      if (storage(g, in) == older.node &&
          (!isExpressionMember(g, kn, m) || g[m].op == Op::Broadcast || g[in].type.numel() != b.numel()))
        return false;
  return true;
}

}  // namespace

std::vector<std::string> verifyPlan(const Graph& g, const Schedule& s, const MemoryPlan& p) {
  std::vector<std::string> problems;
  if (p.offsetOf.size() != size_t(g.size())) return {"the plan does not give an offset for every node"};
  std::vector<Life> lives = lifetimes(g, s, p);
  for (const Life& l : lives)
    if (l.offset < 0 || l.offset + l.bytes > p.peakBytes)
      problems.push_back(fmt::format("%{} at [{}, {}) lies outside the arena of {} bytes", l.node.v, l.offset,
                                     l.offset + l.bytes, p.peakBytes));
  for (const FusedKernel& k : s.kernels)  // everything a kernel reads from memory or stores has an offset
    for (NodeId m : k.nodes) {
      for (NodeId in : g[m].inputs)
        if (!contains(k, storage(g, in)) && p.offsetOf[size_t(storage(g, in).v)] < 0 && !isSplatConstant(g, storage(g, in)))
          problems.push_back(fmt::format("%{} is read by the kernel of %{} but has no memory", storage(g, in).v, k.root.v));
    }
  std::sort(lives.begin(), lives.end(), [](const Life& a, const Life& b) { return a.offset < b.offset; });
  for (size_t a = 0; a < lives.size(); ++a)
    for (size_t b = a + 1; b < lives.size() && lives[b].offset < lives[a].offset + lives[a].bytes; ++b) {
      const Life &x = lives[a], &y = lives[b];
      if (!(x.def <= y.last && y.def <= x.last)) continue;
      const Life& older = std::tie(x.def, x.node) <= std::tie(y.def, y.node) ? x : y;
      const Life& newer = &older == &x ? y : x;
      if (legalInPlace(g, s, older, newer)) continue;
      problems.push_back(fmt::format("%{} (bytes [{}, {}), kernels {}..{}) and %{} (bytes [{}, {}), kernels {}..{}) are live "
                                     "at once in shared bytes",
                                     x.node.v, x.offset, x.offset + x.bytes, x.def, x.last, y.node.v, y.offset,
                                     y.offset + y.bytes, y.def, y.last));
    }
  return problems;
}

}  // namespace kiln
