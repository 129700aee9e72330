// The GEMM engine's planner: the register tile and cache blocks of a GEMM from its shape and the host's
// registers and caches, and which GEMM each contraction runs as (compiler/Gemm.cpp emits it).
#include <unistd.h>

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "compiler/Gemm.h"
#include "compiler/Jit.h"

namespace kiln {

namespace {

/// A cache size from the C library, or `fallback` when it does not know.
int64_t cacheBytes(int name, int64_t fallback) {
  long v = sysconf(name);
  return v > 0 ? int64_t(v) : fallback;
}

}  // namespace

GemmPlan planGemm(int64_t M, int64_t N, int64_t K, DType dtype, bool avx512, int64_t columnBlocks, int64_t rowBlocks) {
  int64_t bytes = dtypeSize(dtype);
  GemmPlan p;
  p.vl = (avx512 ? 64 : 32) / bytes;
  int64_t registers = avx512 ? 32 : 16;
  double best = 0;
  // The register tile: nv vectors wide, mr rows, mr * nv accumulators plus nv vectors of B and one
  // broadcast of A in registers. Scored by the work including the padding of the edge tiles, weighted by
  // the loads each FMA needs (a taller, wider tile reuses each load more).
  // Every height up to the registers' limit is a candidate, so that a short M (10 rows of a head's
  // weight gradient) gets a tile without padded rows.
  for (int64_t nv = 1; nv <= 4; ++nv)
    for (int64_t mr = std::min<int64_t>((registers - nv - 2) / nv, 14); mr >= 1; --mr) {
      int64_t nr = nv * p.vl;
      double work = double(roundUp(M, mr)) * double(roundUp(N, nr));
      double loadsPerFma = double(mr + nv) / double(mr * nv);
      double score = work * (1.0 + 2.0 * loadsPerFma);
      if (best == 0 || score < best) best = score, p.mr = mr, p.nr = nr;
    }
  int64_t l1 = cacheBytes(_SC_LEVEL1_DCACHE_SIZE, 32 << 10), l2 = cacheBytes(_SC_LEVEL2_CACHE_SIZE, 512 << 10);
  // KC: an MR x KC panel of A and a KC x NR panel of B fill most of L1, but at least 256 depths; MC x KC
  // of A half of L2. A tile's fixed cost (zeroing its accumulators, adding and storing C's partial sums,
  // prefetching C) is paid once per block of K, and AVX-512's 64 columns of B leave L1 room for only 80
  // depths at 32 kB: on Zen 4 the 23 training shapes ran 4.7% faster (geometric mean) at 256 than at 80,
  // with B's panel streaming from L2 (128: +2.4%, 192: +1.2%; 7 interleaved rounds).
  p.kc = std::clamp<int64_t>(int64_t(0.75 * double(l1)) / ((p.mr + p.nr) * bytes) / 8 * 8, 256, 512);
  if (K <= p.kc + p.kc / 4) p.kc = K;
  else p.kc = roundUp(ceilDiv(K, ceilDiv(K, p.kc)), p.vl);  // blocks of one depth, not a shallow last one
  p.mc = std::clamp<int64_t>(l2 / 2 / (p.kc * bytes) / p.mr * p.mr, p.mr, 1024 / p.mr * p.mr);
  // Blocks of one height (2048 rows in 684s, not 1020, 1020 and 8), at least `rowBlocks` of them.
  int64_t mBlocks = std::max(ceilDiv(M, p.mc), std::max<int64_t>(rowBlocks, 1));
  p.mc = std::min(p.mc, roundUp(ceilDiv(M, mBlocks), p.mr));
  p.nc = std::clamp<int64_t>((4 << 20) / (p.kc * bytes) / p.nr * p.nr, p.nr, 8192 / p.nr * p.nr);
  p.nc = std::min(p.nc, roundUp(N, p.nr));
  int64_t panels = ceilDiv(N, p.nr);
  p.nc = std::min(p.nc, ceilDiv(panels, std::clamp<int64_t>(columnBlocks, 1, panels)) * p.nr);
  return p;
}

int64_t hostLanes(DType dtype) { return (hostTarget().avx512 ? 64 : 32) / dtypeSize(dtype); }

int64_t GemmShape::columnBlocks() const {
  if (!splitColumns) return 1;
  return std::clamp<int64_t>(int64_t(flops() / double(groups) / 4e6), 1, 8);
}

GemmPlan planGemm(const GemmShape& s) {
  GemmPlan p = planGemm(s.M, s.N, s.K, s.dtype, hostTarget().avx512, s.columnBlocks());
  int64_t have = s.batch * ceilDiv(s.N, p.nc), wanted = std::clamp<int64_t>(int64_t(s.flops() / 4e6), 1, 8);
  if (!s.splitRows || have >= wanted) return p;
  return planGemm(s.M, s.N, s.K, s.dtype, hostTarget().avx512, s.columnBlocks(), ceilDiv(wanted, have));
}

std::optional<GemmShape> gemmShapeOf(const Graph& g, NodeId id) {
  const Node& n = g[id];
  DType t = n.type.dtype;
  auto dims = [&](const Shape& x, const Shape& w, const Shape& y) {
    return std::array<int64_t, 8>{x[0], x[1], w[0], w[2] * w[3], y[2] * y[3], 0, 0, 0};
  };
  switch (n.op) {
    case Op::Matmul: {
      const Shape& out = n.type.shape;
      size_t r = out.size();
      bool ta = std::get<MatmulAttrs>(n.attrs).transpose_a;
      int64_t batch = numel(Shape(out.begin(), out.end() - 2));
      return GemmShape{batch, out[r - 2], out[r - 1], g[n.inputs[0]].type.shape[r - (ta ? 2 : 1)], t, false, batch < 4,
                       batch < 4};
    }
    case Op::Conv2d: {  // the weights are op(A), the same for every sample
      auto [N, C, O, KK, P, a, b, c] = dims(g[n.inputs[0]].type.shape, g[n.inputs[1]].type.shape, n.type.shape);
      GemmShape s{N, O, P, C * KK, t, false, N < 4};
      s.aShared = true;
      return s;
    }
    case Op::Conv2dGradInput: {  // W^T is op(A), the same for every sample
      auto [N, C, O, KK, P, a, b, c] = dims(n.type.shape, g[n.inputs[1]].type.shape, g[n.inputs[0]].type.shape);
      GemmShape s{N, C * KK, P, O, t};
      s.aShared = true;
      return s;
    }
    case Op::Conv2dGradWeight: {  // with groups, the result is [G, O, C, KH, KW]
      int64_t groups = std::get<ConvAttrs>(n.attrs).groups.n;
      Shape w = convWeightShape(n.type.shape, groups);
      auto [N, C, O, KK, P, a, b, c] = dims(g[n.inputs[0]].type.shape, w, g[n.inputs[1]].type.shape);
      return GemmShape{N, O, C * KK, P, t, true, true, false, groups};
    }
    default: return std::nullopt;
  }
}

namespace {

/// The most cache lines that one set of a 64-set L1 (64-byte lines) holds of `rows` runs of `runBytes`
/// each, `strideBytes` apart from a line's start: how evenly a panel of B spreads over L1.
int64_t busiestL1Set(int64_t rows, int64_t runBytes, int64_t strideBytes) {
  std::array<int64_t, 64> lines{};
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t line = r * strideBytes / 64; line <= (r * strideBytes + runBytes - 1) / 64; ++line) ++lines[size_t(line % 64)];
  return *std::max_element(lines.begin(), lines.end());
}

}  // namespace

bool readsBInPlace(const GemmShape& s, bool bRowMajor, const GemmPlan& p) {
  if (!bRowMajor || s.batch == 1 || s.sumBatches || s.N % p.nr != 0 || s.K * s.N * dtypeSize(s.dtype) > (128 << 10)) return false;
  // Only where the panel's rows spread over L1 about as a packed panel's do, at most half of an 8-way set
  // where packing would hold fewer: with AVX2's 16 columns, B's rows of 64 floats put the attention's
  // panel of 128 depths in 16 sets, 8 lines each (packed: 2), and 64 x 128x64x128 ran 7-8% slower beside
  // oneDNN than packed (Zen 3), while conv2d_grad_input's 64 depths (4 lines each) ran 2% faster in place;
  // at AVX-512's 64 columns the attention's panel is B itself.
  int64_t run = p.nr * dtypeSize(s.dtype), rows = std::min(s.K, p.kc);
  return busiestL1Set(rows, run, s.N * dtypeSize(s.dtype)) <= std::max<int64_t>(busiestL1Set(rows, run, run), 4);
}

std::string describeGemm(const Graph& g, NodeId id) {
  std::optional<GemmShape> s = gemmShapeOf(g, id);
  if (!s) return "";
  GemmPlan p = planGemm(*s);
  std::string sum = !s->sumBatches ? "" : s->groups > 1 ? fmt::format("{} sums of ", s->groups) : "sum of ";
  const Node& n = g[id];
  if (n.op == Op::Matmul) {
    const MatmulAttrs& m = std::get<MatmulAttrs>(n.attrs);
    if (usesDotPath(*s, m.transpose_a, m.transpose_b))
      return fmt::format("gemm {} x [{} x {} x {}] {}: dot products along K ({} lanes), {}x{} at a time, blocks of {} rows x {} columns",
                         s->batch, s->M, s->N, s->K, dtypeName(s->dtype), p.vl, dotTile(*s).rows, dotTile(*s).cols,
                         dotBlockRows(*s), dotBlockColumns(*s));
    if (usesNarrowPath(*s)) return describeNarrow(*s);
  }
  // B is row-major but for a matmul's transposed B and conv2d_grad_weight's (whose batches are summed).
  bool rowMajor = n.op == Op::Matmul ? !std::get<MatmulAttrs>(n.attrs).transpose_b : n.op != Op::Conv2dGradWeight;
  bool inPlace = readsBInPlace(*s, rowMajor, p);
  return fmt::format("gemm {}{} x [{} x {} x {}] {}: {}{}", sum, s->batch, s->M, s->N, s->K, dtypeName(s->dtype), p.str(),
                     inPlace ? ", B read in place" : "");
}

std::string GemmPlan::str() const {
  return fmt::format("tile {}x{} ({} lanes), blocks kc {} mc {} nc {}", mr, nr, vl, kc, mc, nc);
}

}  // namespace kiln
