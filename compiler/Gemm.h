// The GEMM engine's plan: the register tile and cache blocks chosen for one matmul from its shape and the
// host (compiler/GemmPlan.cpp plans; compiler/Gemm.cpp emits the packed, blocked kernel, and lowerMatmul
// in compiler/Lowering.h is its entry point).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ir/Graph.h"
#include "ir/Types.h"

namespace kiln {

/// a / b rounded up (b > 0): the engine's block arithmetic.
inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
/// a rounded up to a multiple of b (b > 0).
inline int64_t roundUp(int64_t a, int64_t b) { return ceilDiv(a, b) * b; }

/// How one matmul is blocked: an MR x NR register tile of MR x NR/VL vector accumulators, and cache
/// blocks of KC (the contracted dimension), MC rows of A and NC columns of B.
struct GemmPlan {
  int64_t vl = 16;  ///< elements per vector register
  int64_t mr = 1;   ///< rows of the register tile
  int64_t nr = 16;  ///< columns of the register tile, a multiple of vl
  int64_t kc = 1;   ///< depth of a packed block
  int64_t mc = 1;   ///< rows of A packed at once, a multiple of mr
  int64_t nc = 16;  ///< columns of B packed at once, a multiple of nr
  /// "tile 12x32 (16 lanes), blocks kc 224 mc 576 nc 512".
  std::string str() const;
};

/// Elements of `dtype` in one vector register of this host (AVX-512's 64 bytes, else AVX2's 32).
int64_t hostLanes(DType dtype);

/// The plan for C[M,N] = A[M,K] B[K,N] in `dtype` (f32 or f64), with AVX-512 vectors or else AVX2's: the
/// tile with the least padded work per load, KC from L1, MC from L2, NC from a share of L3 and, with
/// `columnBlocks` > 1, small enough that N splits into about that many blocks (the chunks threads share);
/// likewise MC with `rowBlocks` > 1.
GemmPlan planGemm(int64_t M, int64_t N, int64_t K, DType dtype, bool avx512, int64_t columnBlocks = 1,
                  int64_t rowBlocks = 1);

/// The GEMM a contraction runs as: `batch` products of M x K by K x N, each its own result or, with
/// `sumBatches`, all added into one.
struct GemmShape {
  int64_t batch = 1, M = 1, N = 1, K = 1;  ///< batches, and the dims of each product
  DType dtype = DType::F32;                ///< of the operands and the result
  bool sumBatches = false;                 ///< one M x N result, the sum of the batches' products
  /// The outer loop may split N into blocks (for threads): false when each batch's result must be whole
  /// (a conv's input gradient scatters it back) or when the batches alone give enough chunks.
  bool splitColumns = false;
  /// The outer loop may split M into blocks of MC rows too, when the batches and the blocks of columns
  /// give fewer chunks than the work asks for (a matmul whose N is a few panels wide).
  bool splitRows = false;
  /// With sumBatches: the batches are summed in this many runs, run g being batches [g*batch/groups,
  /// (g+1)*batch/groups), each its own M x N result (a split conv2d_grad_weight's partials).
  int64_t groups = 1;
  /// op(A) is the same for every batch (a conv's weights): the engine packs it once per call of the kernel,
  /// so once per chunk on several threads (see chunksFor in compiler/Pipeline.cpp).
  bool aShared = false;
  /// The blocks of columns wanted: about one per 4 MFLOP of a run, at most 8; 1 without splitColumns. From
  /// the shape alone, never from the thread count, so results do not depend on it.
  int64_t columnBlocks() const;
  /// Multiplies and adds of the whole contraction: 2 batch M N K.
  double flops() const { return 2.0 * double(batch) * double(M) * double(N) * double(K); }
};
/// The plan of a GEMM shape on this host.
GemmPlan planGemm(const GemmShape& s);
/// At most this many rows of A take the dot-product path (see usesDotPath).
constexpr int64_t kDotMaxRows = 4;
/// Whether a GEMM of plain operands runs as dot products instead of on the packed engine
/// (compiler/GemmDot.cpp): both operands contiguous along K (A not transposed, or one row; B transposed,
/// as a linear layer's weight), at least 16 depths, no summed batches, and either at most kDotMaxRows rows
/// of A (a GEMV reads each element of B once, so packing B, and transposing it, cost more than the
/// product) or a narrow C (usesNarrowPath: a classifier's head, where vectors along M would need A
/// transposed into scratch).
bool usesDotPath(const GemmShape& s, bool aTransposed, bool bTransposed);
/// The rows x columns of C the dot-product path computes at once: all of at most kDotMaxRows rows by four
/// columns, or (a narrow C) a few rows by all the columns.
struct DotTile {
  int64_t rows = 1, cols = 1;  ///< rows of A and columns of B (rows of op(B)) computed together
};
/// The dot-product path's tile for a shape it takes.
DotTile dotTile(const GemmShape& s);
/// The columns of C a chunk of the dot-product path computes: about 1 MFLOP in whole tiles, or all N for
/// a narrow C.
int64_t dotBlockColumns(const GemmShape& s);
/// The rows of C a chunk of the dot-product path computes: all of at most kDotMaxRows, else about 1 MFLOP
/// in whole tiles.
int64_t dotBlockRows(const GemmShape& s);
/// At most this many columns of C take the narrow path (see usesNarrowPath).
constexpr int64_t kNarrowMaxColumns = 12;
/// Whether a GEMM of plain operands (not one usesDotPath takes) runs on the narrow path, its vectors along
/// M and each element of B broadcast (compiler/GemmNarrow.cpp): N of at most kNarrowMaxColumns, not a
/// multiple of the host's vector (on the general engine its tiles would be padded to whole vectors), at
/// least a vector of rows, no summed batches. A classifier's head: C[128, 10] on AVX2's 8 lanes.
bool usesNarrowPath(const GemmShape& s);
/// The rows of a narrow tile, whole vectors: as many as N accumulators a vector leave registers for.
int64_t narrowTileRows(const GemmShape& s);
/// The rows of C a chunk of the narrow path computes: about 1 MFLOP, whole tiles.
int64_t narrowBlockRows(const GemmShape& s);
/// "gemm 1 x [128 x 10 x 512] f32: narrow, vectors along M (8 lanes), tile 8x10, ...", as describeGemm.
std::string describeNarrow(const GemmShape& s);
/// Whether the engine reads B where it lies instead of packing it: a plain row-major B (`bRowMajor`)
/// whose columns are whole panels (N a multiple of NR), in a batched product whose B is small (at most
/// 128 kB: the attention's products, packed afresh for every batch, where copying B cost more than its
/// reuse saved).
bool readsBInPlace(const GemmShape& s, bool bRowMajor, const GemmPlan& p);
/// The GEMM node `id` runs as on the engine: matmul (batch dims flattened), conv2d (per sample: O x OH*OW
/// x C*KH*KW), conv2d_grad_input (per sample: C*KH*KW x OH*OW x O, then col2im) and conv2d_grad_weight
/// (per sample, summed: O x C*KH*KW x OH*OW); nothing for other ops.
std::optional<GemmShape> gemmShapeOf(const Graph& g, NodeId id);
/// "gemm 64 x [32 x 576 x 25] f32: tile 12x64 (16 lanes), blocks kc 25 mc 36 nc 576" ("gemm sum of 64 x
/// [...]" when the batches are summed, "gemm 13 sums of 64 x [...]" in runs), as the engine plans it on
/// this host; empty for a node that is not a contraction.
std::string describeGemm(const Graph& g, NodeId id);

/// A kernel of a schedule (passes/Fuse.h), declared here rather than included.
struct FusedKernel;
/// Where a fused contraction kernel runs its epilogue (compiler/LowerFused.cpp): "epilogue on the register
/// tile" when every member computes on vectors of a row of the result, else element by element on the
/// stored tile, naming the first member that cannot; empty for other kernels.
std::string describeEpilogue(const Graph& g, const FusedKernel& kernel);

}  // namespace kiln
