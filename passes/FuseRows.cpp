// Rows kernels: runs of consecutive kernels that work row by row (softmax, layernorm, log-softmax with
// cross-entropy) merged into one kernel whose stages run in turn for each row.
#include <algorithm>

#include "passes/Fuse.h"

namespace kiln {

namespace {

/// How a kernel runs as a stage of a rows kernel over rows R and innermost extent N.
enum class Stage { None, Map, RowReduce, TotalReduce, RowScalar, FinalScalar };

Stage stageOf(const Graph& g, const FusedKernel& k, const Shape& R, int64_t N, bool afterTotal) {
  Shape full = R;
  full.push_back(N);
  Shape keep = R;
  keep.push_back(1);
  const Node& root = g[k.root];
  if (k.kind == KernelKind::Reduction) {
    if (afterTotal || g[root.inputs[0]].type.shape != full) return Stage::None;
    if (std::get<ReduceAttrs>(root.attrs).groups.n != 1) return Stage::None;  // partials: their own kernel
    auto& axes = std::get<ReduceAttrs>(root.attrs).axes;
    if (axes.size() == 1 && axes[0] == int64_t(R.size())) return Stage::RowReduce;
    if (axes.size() == full.size()) return Stage::TotalReduce;
    return Stage::None;
  }
  if (k.kind != KernelKind::Elementwise) return Stage::None;
  const Shape& s = root.type.shape;
  if (afterTotal) return s.empty() ? Stage::FinalScalar : Stage::None;
  if (s == full) return Stage::Map;
  if (s == keep || s == R) return Stage::RowScalar;
  return Stage::None;
}

/// Whether every value stage `k` reads from earlier stages of the run is read at its own row.
bool rowAligned(const Graph& g, const FusedKernel& k, const std::vector<int32_t>& inRun, const Shape& R, int64_t N) {
  Shape full = R, keep = R;
  full.push_back(N);
  keep.push_back(1);
  for (NodeId m : k.nodes)
    for (NodeId in : g[m].inputs) {
      if (inRun[size_t(in.v)] < 0 || std::find(k.nodes.begin(), k.nodes.end(), in) != k.nodes.end()) continue;
      const Shape& s = g[in].type.shape;
      bool ok = g[m].op == Op::Broadcast ? (s == keep || s == R) && g[m].type.shape == full
                                          : s == g[m].type.shape || (s.empty() && g[m].type.shape.empty());
      if (!ok) return false;
    }
  return true;
}

}  // namespace

void mergeRows(const Graph& g, Schedule& s) {
  std::vector<FusedKernel> out;
  for (size_t i = 0; i < s.kernels.size();) {
    const FusedKernel& first = s.kernels[i];
    const Node& root = g[first.root];
    bool starts = first.kind == KernelKind::Reduction && stageOf(g, first, Shape(g[root.inputs[0]].type.shape.begin(),
                                                                       g[root.inputs[0]].type.shape.end() - (g[root.inputs[0]].type.shape.empty() ? 0 : 1)),
                                                        g[root.inputs[0]].type.shape.empty() ? 1 : g[root.inputs[0]].type.shape.back(), false) == Stage::RowReduce;
    if (!starts) {
      out.push_back(first);
      ++i;
      continue;
    }
    const Shape& in = g[root.inputs[0]].type.shape;
    Shape R(in.begin(), in.end() - 1);
    int64_t N = in.back();
    std::vector<int32_t> inRun(size_t(g.size()), -1);
    FusedKernel rows{KernelKind::Rows, first.root, {}, {}, {}, R, N};
    bool afterTotal = false;
    size_t j = i;
    for (; j < s.kernels.size(); ++j) {
      const FusedKernel& k = s.kernels[j];
      Stage st = stageOf(g, k, R, N, afterTotal);
      if (st == Stage::None || !rowAligned(g, k, inRun, R, N)) break;
      afterTotal |= st == Stage::TotalReduce;
      rows.stages.push_back(k);
      rows.nodes.insert(rows.nodes.end(), k.nodes.begin(), k.nodes.end());
      rows.stores.insert(rows.stores.end(), k.stores.begin(), k.stores.end());
      for (NodeId n : k.nodes) inRun[size_t(n.v)] = int32_t(j);
    }
    if (rows.stages.size() < 2) {
      out.push_back(first);
      ++i;
      continue;
    }
    rows.root = rows.stages.back().root;
    std::sort(rows.nodes.begin(), rows.nodes.end());
    rows.nodes.erase(std::unique(rows.nodes.begin(), rows.nodes.end()), rows.nodes.end());
    out.push_back(rows);
    i = j;
  }
  s.kernels = out;
  std::erase_if(s.refusals, [&](const FusionRefusal& r) {  // edges between stages of one rows kernel are fused now
    for (const FusedKernel& k : s.kernels)
      if (k.kind == KernelKind::Rows && std::find(k.nodes.begin(), k.nodes.end(), r.producer) != k.nodes.end() &&
          std::find(k.nodes.begin(), k.nodes.end(), r.consumer) != k.nodes.end())
        return true;
    return false;
  });
  std::fill(s.kernelOf.begin(), s.kernelOf.end(), -1);
  for (size_t k = 0; k < s.kernels.size(); ++k)
    for (NodeId st : s.kernels[k].stores) s.kernelOf[size_t(st.v)] = int32_t(k);
}

}  // namespace kiln
