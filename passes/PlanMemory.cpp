// Liveness over the schedule, in-place reuse, and best-fit placement.
#include "passes/PlanMemory.h"

#include <algorithm>
#include <functional>

#include <fmt/format.h>

namespace kiln {

namespace {

int64_t aligned(int64_t bytes) { return (bytes + 63) / 64 * 64; }

/// The node whose buffer `id` lives in (reshapes are views).
NodeId storageOf(const Graph& g, NodeId id) {
  while (g[id].op == Op::Reshape) id = g[id].inputs[0];
  return id;
}

struct Planner {
  Planner(const Graph& graph, const Schedule& schedule) : g(graph), s(schedule) {}
  const Graph& g;
  const Schedule& s;
  int32_t K = int32_t(s.kernels.size());
  std::vector<int32_t> bufferOf = std::vector<int32_t>(size_t(g.size()), -1);  // storage node -> buffer index
  std::vector<PlannedBuffer> buffers;

  /// Splat constants read only by kernel expressions are immediates in the code: they need no buffer.
  std::vector<bool> constantInMemory() {
    std::vector<bool> needed(size_t(g.size()), false);
    for (const Output& o : g.outputs()) needed[size_t(storageOf(g, o.node).v)] = true;
    for (const FusedKernel& k : s.kernels)
      for (NodeId m : k.nodes) {
        bool expr = isExpressionMember(g, k, m);
        for (NodeId in : g[m].inputs) {
          NodeId src = storageOf(g, in);
          if (!expr || !isSplatConstant(g, src) || in != src) needed[size_t(src.v)] = true;
        }
      }
    return needed;
  }

  /// One buffer for every value that lives in memory.
  void collect() {
    std::vector<bool> constants = constantInMemory();
    for (int32_t i = 0; i < g.size(); ++i) {
      const Node& n = g.nodes()[size_t(i)];
      bool leaf = isNamedLeaf(n.op) || n.op == Op::Constant;
      if (n.op == Op::Constant && !constants[size_t(i)]) continue;
      int32_t hostOf = contractionHostKernel(NodeId{i});
      if (!leaf && s.kernelOf[size_t(i)] < 0 && hostOf < 0) continue;
      PlannedBuffer b;
      b.node = NodeId{i};
      b.bytes = aligned(n.type.bytes());
      b.first = leaf ? -1 : hostOf >= 0 ? hostOf : s.kernelOf[size_t(i)];
      b.last = b.first;
      b.persistent = n.op == Op::Parameter || n.op == Op::State || n.op == Op::Constant;
      if (b.persistent) b.last = K;
      bufferOf[size_t(i)] = int32_t(buffers.size());
      buffers.push_back(b);
    }
  }

  /// For the matmul or conv2d at the heart of a kernel with an epilogue: that kernel. Its partial sums
  /// need a scratch buffer of its shape for the kernel's duration, so that the kernel's own results may
  /// replace the operands they read (a parameter update in place).
  int32_t contractionHostKernel(NodeId n) const {
    for (int32_t k = 0; k < K; ++k) {
      const FusedKernel& kn = s.kernels[size_t(k)];
      if ((kn.kind == KernelKind::Matmul || kn.kind == KernelKind::Conv2d) && kn.root != n && !isExpressionMember(g, kn, n) &&
          std::find(kn.nodes.begin(), kn.nodes.end(), n) != kn.nodes.end())
        return k;
    }
    return -1;
  }

  void read(NodeId value, int32_t kernel) {
    int32_t b = bufferOf[size_t(storageOf(g, value).v)];
    if (b >= 0) buffers[size_t(b)].last = std::max(buffers[size_t(b)].last, kernel);
  }

  /// Every kernel reads the operands of its members that it does not compute itself, and a matmul or conv2d
  /// at its heart reads all of its operands from memory (a broadcast member is an index mapping for the
  /// epilogue only: the contraction reads the materialised broadcast).
  void liveness() {
    for (int32_t k = 0; k < K; ++k) {
      const FusedKernel& kn = s.kernels[size_t(k)];
      for (NodeId m : kn.nodes) {
        bool expr = isExpressionMember(g, kn, m);
        for (NodeId in : g[m].inputs)
          if (!expr || std::find(kn.nodes.begin(), kn.nodes.end(), in) == kn.nodes.end()) read(in, k);
      }
    }
    for (const Output& o : g.outputs()) read(o.node, K);
  }

  /// The buffer that owns the bytes `b` lives in (itself unless it was placed in place of another).
  int32_t ownerOf(int32_t b) const {
    while (buffers[size_t(b)].inPlaceOf.valid()) b = bufferOf[size_t(buffers[size_t(b)].inPlaceOf.v)];
    return b;
  }

  /// Merges buffer `b` into the bytes of `into` (same offset). The owner's interval becomes the union of
  /// every value placed in those bytes, so a chain of in-place reuses keeps them as long as its last value.
  void merge(int32_t b, int32_t into) {
    buffers[size_t(b)].inPlaceOf = buffers[size_t(into)].node;
    PlannedBuffer& owner = buffers[size_t(ownerOf(into))];
    owner.first = std::min(owner.first, buffers[size_t(b)].first);
    owner.last = std::max(owner.last, buffers[size_t(b)].last);
  }

  /// Whether the bytes of `value`'s buffer are free for a result written in kernel k at the same element
  /// index: the value dies in k, so does every value placed in the same bytes, and they are not persistent.
  bool diesIn(int32_t value, int32_t k) const {
    const PlannedBuffer& v = buffers[size_t(value)];
    const PlannedBuffer& owner = buffers[size_t(ownerOf(value))];
    return v.last == k && owner.last == k && !owner.persistent && owner.first >= 0;
  }

  /// Whether `result` may be written over `operand` element for element: the same number of elements of
  /// the same size, so element i of the result covers exactly the bytes of element i of the operand.
  bool sameLayout(NodeId result, NodeId operand) const {
    const Type &r = g[result].type, &o = g[operand].type;
    return r.numel() == o.numel() && dtypeSize(r.dtype) == dtypeSize(o.dtype);
  }

  /// Element-wise roots over a dying operand read at the same index, and aliasing outputs over their leaves.
  void inPlace() {
    for (int32_t k = 0; k < K; ++k) {
      const FusedKernel& kn = s.kernels[size_t(k)];
      int32_t rb = bufferOf[size_t(kn.root.v)];
      if (kn.kind != KernelKind::Elementwise || rb < 0 || buffers[size_t(rb)].inPlaceOf.valid() || isOutputNode(kn.root)) continue;
      for (NodeId m : kn.nodes)
        for (NodeId in : g[m].inputs) {
          NodeId src = storageOf(g, in);
          int32_t ib = bufferOf[size_t(src.v)];
          if (ib < 0 || ib == rb || !diesIn(ib, k) || !sameLayout(kn.root, src) || isOutputNode(src)) continue;
          if (!readsAtSameIndex(k, src)) continue;
          merge(rb, ib);
          goto next;
        }
    next:;
    }
    for (const Output& o : g.outputs()) {
      if (!o.aliases.valid()) continue;
      int32_t ob = bufferOf[size_t(storageOf(g, o.node).v)], lb = bufferOf[size_t(o.aliases.v)];
      if (ob < 0 || lb < 0 || ob == lb || buffers[size_t(ob)].inPlaceOf.valid()) continue;
      int32_t k = buffers[size_t(ob)].first;
      // A leaf that is itself an output (or viewed by one) keeps its old value to the end of the run.
      if (k < 0 || !sameLayout(storageOf(g, o.node), o.aliases) || isOutputNode(o.aliases)) continue;
      if (lastReadOfLeaf(o.aliases) > k || (lastReadOfLeaf(o.aliases) == k && !readsAtSameIndex(k, o.aliases))) continue;
      merge(ob, lb);
    }
  }

  /// Whether kernel k reads the bytes of `storage` only where it writes its results: every read is by a
  /// member of the kernel's element expression (not a broadcast, not a matmul or conv2d operand, not a
  /// reduction's input), of a value (the storage or a reshape of it) with as many elements as the result.
  bool readsAtSameIndex(int32_t k, NodeId storage) const {
    const FusedKernel& kn = s.kernels[size_t(k)];
    if (kn.kind != KernelKind::Elementwise && kn.kind != KernelKind::Matmul && kn.kind != KernelKind::Conv2d) return false;
    for (NodeId m : kn.nodes)
      for (NodeId in : g[m].inputs)
        if (storageOf(g, in) == storage &&
            (!isExpressionMember(g, kn, m) || g[m].op == Op::Broadcast || g[in].type.numel() != g[kn.root].type.numel()))
          return false;
    return true;
  }

  bool isOutputNode(NodeId n) const {
    for (const Output& o : g.outputs())
      if (storageOf(g, o.node) == n) return true;
    return false;
  }

  int32_t lastReadOfLeaf(NodeId leaf) const {
    int32_t last = -1;
    for (int32_t k = 0; k < K; ++k)
      for (NodeId m : s.kernels[size_t(k)].nodes)
        for (NodeId in : g[m].inputs)
          if (storageOf(g, in) == leaf) last = k;
    return last;
  }

  /// Best fit: the smallest gap between buffers placed so far that overlap in time; else on top.
  int64_t place(const std::vector<int32_t>& order, std::vector<int64_t>& offsets) {
    std::vector<int32_t> placed;
    int64_t peak = 0;
    for (int32_t b : order) {
      const PlannedBuffer& pb = buffers[size_t(b)];
      std::vector<std::pair<int64_t, int64_t>> busy;
      for (int32_t q : placed) {
        const PlannedBuffer& o = buffers[size_t(q)];
        if (o.first <= pb.last && pb.first <= o.last) busy.push_back({offsets[size_t(q)], offsets[size_t(q)] + o.bytes});
      }
      std::sort(busy.begin(), busy.end());
      int64_t best = -1, bestGap = INT64_MAX, at = 0;
      for (auto [lo, hi] : busy) {
        if (lo - at >= pb.bytes && lo - at < bestGap) best = at, bestGap = lo - at;
        at = std::max(at, hi);
      }
      offsets[size_t(b)] = best >= 0 ? best : at;
      placed.push_back(b);
      peak = std::max(peak, offsets[size_t(b)] + pb.bytes);
    }
    return peak;
  }

  MemoryPlan finish() {
    MemoryPlan p;
    std::vector<int32_t> roots;  // buffers that own their memory
    for (size_t b = 0; b < buffers.size(); ++b) {
      p.noReuseBytes += buffers[b].bytes;
      if (!buffers[b].inPlaceOf.valid()) roots.push_back(int32_t(b));
    }
    for (int32_t t = -1; t <= K; ++t) {
      int64_t live = 0;
      for (int32_t b : roots)
        if (buffers[size_t(b)].first <= t && t <= buffers[size_t(b)].last) live += buffers[size_t(b)].bytes;
      p.lowerBoundBytes = std::max(p.lowerBoundBytes, live);
    }
    using Cmp = std::function<bool(int32_t, int32_t)>;
    auto& B = buffers;
    const std::pair<const char*, Cmp> orders[] = {
        {"largest first", [&](int32_t a, int32_t b) { return std::tie(B[size_t(b)].persistent, B[size_t(b)].bytes, a) < std::tie(B[size_t(a)].persistent, B[size_t(a)].bytes, b); }},
        {"earliest first", [&](int32_t a, int32_t b) { return std::tie(B[size_t(a)].first, a) < std::tie(B[size_t(b)].first, b); }},
        {"longest-lived first", [&](int32_t a, int32_t b) {
           return std::make_tuple(B[size_t(b)].last - B[size_t(b)].first, B[size_t(b)].bytes, a) <
                  std::make_tuple(B[size_t(a)].last - B[size_t(a)].first, B[size_t(a)].bytes, b);
         }},
    };
    std::vector<int64_t> best;
    p.peakBytes = INT64_MAX;
    for (auto& [name, cmp] : orders) {
      std::vector<int32_t> order = roots;
      std::stable_sort(order.begin(), order.end(), cmp);
      std::vector<int64_t> offsets(buffers.size(), 0);
      int64_t peak = place(order, offsets);
      if (peak < p.peakBytes) p.peakBytes = peak, best = offsets, p.ordering = name;
    }
    if (roots.empty()) p.peakBytes = 0;
    for (size_t b = 0; b < buffers.size(); ++b) {
      int32_t owner = int32_t(b);
      while (buffers[size_t(owner)].inPlaceOf.valid()) owner = bufferOf[size_t(buffers[size_t(owner)].inPlaceOf.v)];
      buffers[b].offset = best.empty() ? 0 : best[size_t(owner)];
    }
    p.offsetOf.assign(size_t(g.size()), -1);
    for (int32_t i = 0; i < g.size(); ++i) {
      int32_t b = bufferOf[size_t(storageOf(g, NodeId{i}).v)];
      if (b >= 0) p.offsetOf[size_t(i)] = buffers[size_t(b)].offset;
    }
    p.buffers = buffers;
    return p;
  }
};

}  // namespace

MemoryPlan planMemory(const Graph& g, const Schedule& s) {
  Planner pl(g, s);
  pl.collect();
  pl.liveness();
  pl.inPlace();
  return pl.finish();
}

MemoryPlan planWithoutReuse(const Graph& g, const Schedule& s) {
  MemoryPlan p;
  p.offsetOf.assign(size_t(g.size()), 0);
  int32_t end = int32_t(s.kernels.size());
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    if (n.op == Op::Reshape) {
      p.offsetOf[size_t(i)] = p.offsetOf[size_t(n.inputs[0].v)];
      continue;
    }
    p.offsetOf[size_t(i)] = p.peakBytes;
    bool persistent = isNamedLeaf(n.op) || n.op == Op::Constant;  // the rest simply never shares bytes
    p.buffers.push_back({NodeId{i}, aligned(n.type.bytes()), p.peakBytes, -1, end, persistent, {}});
    p.peakBytes += aligned(n.type.bytes());
  }
  p.lowerBoundBytes = p.noReuseBytes = p.peakBytes;
  p.ordering = "none (every value its own buffer)";
  return p;
}

}  // namespace kiln
