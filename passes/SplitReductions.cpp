// split-reductions: reductions and weight gradients with few outputs become partials over runs of axis 0
// and a combine in a fixed order (see SplitReductions.h).
#include "passes/SplitReductions.h"

#include <algorithm>

namespace kiln {

namespace {

/// The most runs: as many as the runtime's chunks.
constexpr int64_t kMaxRuns = 64;
/// A reduction whose outputs give this many chunks is left whole: enough for the machines kiln runs on.
constexpr int64_t kEnoughChunks = 8;

/// The runs a reduction is split into, or 1 when it stays whole: when its input asks for several chunks
/// of work and its first kept axis cannot give them, or 8 (lowerReductionKernel splits along that axis,
/// each chunk at least 256 bytes of outputs, as chunksFor in compiler/Pipeline.cpp allows).
int64_t reductionRuns(const Graph& g, const Node& n) {
  auto& a = std::get<ReduceAttrs>(n.attrs);
  const Shape& s = g[n.inputs[0]].type.shape;
  if (a.groups.n != 1 || s.empty() || std::find(a.axes.begin(), a.axes.end(), 0) == a.axes.end()) return 1;
  int64_t elements = numel(s), outputs = std::max<int64_t>(n.type.numel(), 1);
  int64_t wanted = std::min(kMaxRuns, elements / kElementsPerChunk);
  int64_t byOutputs = 1;
  for (size_t d = 0; d < s.size(); ++d)
    if (std::find(a.axes.begin(), a.axes.end(), int64_t(d)) == a.axes.end()) {
      byOutputs = std::min(s[d], std::max<int64_t>(1, n.type.bytes() / kMinChunkOutputBytes));
      break;
    }
  if (byOutputs >= std::min(wanted, kEnoughChunks)) return 1;
  return std::min({wanted, s[0], elements / (4 * outputs)});
}

/// The runs of samples a conv2d_grad_weight is split into, or 1: when the GEMM's blocks of columns (the
/// weight's C*KH*KW, in blocks of at least 64) give fewer chunks than its work asks for. Its work is the
/// larger of its multiply-adds (4 MFLOP a chunk) and the im2col it fills (16K elements a chunk).
int64_t convRuns(const Graph& g, const Node& n) {
  if (std::get<ConvAttrs>(n.attrs).groups.n != 1) return 1;
  const Shape &x = g[n.inputs[0]].type.shape, &gy = g[n.inputs[1]].type.shape, &w = n.type.shape;
  int64_t N = x[0], O = w[0], ckk = w[1] * w[2] * w[3], positions = gy[2] * gy[3];
  double flops = 2.0 * double(N) * double(O) * double(ckk) * double(positions);
  double work = std::max(flops / 4e6, double(N) * double(ckk) * double(positions) / double(kElementsPerChunk));
  int64_t wanted = std::min(kMaxRuns, int64_t(work));
  int64_t blocks = std::clamp<int64_t>(std::min<int64_t>(int64_t(flops / 4e6), (ckk + 63) / 64), 1, 8);
  return std::min({N, wanted / blocks, numel(gy) / std::max<int64_t>(1, 4 * n.type.numel())});
}

}  // namespace

Graph splitReductions(const Graph& g) {
  Graph out(g.name());
  std::vector<NodeId> map(size_t(g.size()));
  for (int32_t i = 0; i < g.size(); ++i) {
    Node n = g.nodes()[size_t(i)];
    bool isReduce = n.op == Op::ReduceSum || n.op == Op::ReduceMax;
    int64_t runs = isReduce ? reductionRuns(g, n) : n.op == Op::Conv2dGradWeight ? convRuns(g, n) : 1;
    for (NodeId& x : n.inputs) x = map[size_t(x.v)];
    if (n.origin.valid()) n.origin = map[size_t(n.origin.v)];
    if (runs < 2) {
      map[size_t(i)] = out.add(std::move(n));
      continue;
    }
    Node partial = n;
    Shape& ps = partial.type.shape;
    bool keepdims = isReduce && std::get<ReduceAttrs>(n.attrs).keepdims;
    if (keepdims) ps[0] = runs;
    else ps.insert(ps.begin(), runs);
    if (isReduce) std::get<ReduceAttrs>(partial.attrs).groups = Count{runs};
    else std::get<ConvAttrs>(partial.attrs).groups = Count{runs};
    NodeId p = out.add(std::move(partial));
    // The combine: the partials reduced along their runs, in order (max for max, a sum otherwise).
    Node combine{n.op == Op::ReduceMax ? Op::ReduceMax : Op::ReduceSum, n.type, {p}, ReduceAttrs{{0}, keepdims, {}},
                 n.origin, n.srcLine};
    map[size_t(i)] = out.add(std::move(combine));
  }
  for (const Output& o : g.outputs())
    out.addOutput(o.name, map[size_t(o.node.v)], o.aliases.valid() ? map[size_t(o.aliases.v)] : NodeId{});
  return out;
}

}  // namespace kiln
