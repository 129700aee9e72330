// The GEMM engine's path for a few rows of A against a transposed B (a linear layer on one token while
// generating: C[1, N] = x[1, K] W[N, K]^T), and for a few columns of C with both operands contiguous along
// K (a classifier's head, C[128, 10] = h[128, 512] W[10, 512]^T): each element of C is a dot product of two
// rows contiguous along K, so no operand is packed. Vectors of VL depths are multiplied into one
// accumulator per element, a tile of rows x columns of C at a time (all rows by four columns, or a few rows
// by all the columns), then summed across their lanes in a fixed order.
#include <algorithm>

#include "compiler/Gemm.h"
#include "compiler/Jit.h"
#include "compiler/Lowering.h"

namespace kiln {

namespace {

constexpr int64_t kDotCols = 4;  ///< columns of C (rows of B) computed together

/// The dot-product kernel of one GEMM spec.
struct DotLowering : GemmPathLowering {
  DotTile tile = dotTile(s);
  int64_t blockCols = dotBlockColumns(s), blockRows = dotBlockRows(s);

  /// Depths kk0.. of row `row` of a plain operand contiguous along K, under `mask` (zero off it).
  llvm::Value* rowVector(const std::function<llvm::Value*(KernelEmitter&, llvm::Value*)>& address, llvm::Value* rowStart,
                         llvm::Value* kk0, llvm::Value* mask) {
    return b.CreateMaskedLoad(vt, address(k, b.CreateAdd(rowStart, kk0)), llvm::Align(uint64_t(bytes)), mask,
                              llvm::ConstantFP::get(vt, 0.0));
  }

  /// C[bi, m0 + m, n0 + j] for every m < rows and j < cols: the dot products, then the epilogue or the
  /// store.
  void columns(llvm::Value* bi, llvm::Value* m0, int64_t rows, llvm::Value* n0, int64_t cols) {
    std::vector<llvm::Value*> acc;
    for (int64_t i = 0; i < rows * cols; ++i) {
      acc.push_back(k.local(vt));
      b.CreateStore(llvm::ConstantFP::get(vt, 0.0), acc.back());
    }
    auto aRow = [&](int64_t m) {
      return b.CreateAdd(b.CreateMul(bi, k.c64(s.aBatchStride)), b.CreateMul(b.CreateAdd(m0, k.c64(m)), k.c64(s.K)));
    };
    auto bRow = [&](int64_t j) {
      return b.CreateAdd(b.CreateMul(bi, k.c64(s.bBatchStride)), b.CreateMul(b.CreateAdd(n0, k.c64(j)), k.c64(s.K)));
    };
    auto step = [&](llvm::Value* kk0, llvm::Value* mask) {
      std::vector<llvm::Value*> av, bv;
      for (int64_t m = 0; m < rows; ++m) av.push_back(rowVector(s.aAddress, aRow(m), kk0, mask));
      for (int64_t j = 0; j < cols; ++j) bv.push_back(rowVector(s.bAddress, bRow(j), kk0, mask));
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t j = 0; j < cols; ++j) {
          llvm::Value* slot = acc[size_t(m * cols + j)];
          b.CreateStore(k.intrinsic(llvm::Intrinsic::fma, vt, {av[size_t(m)], bv[size_t(j)], b.CreateLoad(vt, slot)}), slot);
        }
    };
    llvm::Value* all = llvm::ConstantInt::getTrue(llvm::VectorType::get(b.getInt1Ty(), vt));
    k.loop(k.c64(0), k.c64(s.K / vl), [&](llvm::Value* kb) { step(b.CreateMul(kb, k.c64(vl)), all); }, true);
    if (int64_t tail = s.K % vl) {
      std::vector<llvm::Constant*> lanes;
      for (int64_t l = 0; l < vl; ++l) lanes.push_back(b.getInt1(l < tail));
      step(k.c64(s.K / vl * vl), llvm::ConstantVector::get(lanes));
    }
    for (int64_t m = 0; m < rows; ++m)
      for (int64_t j = 0; j < cols; ++j) {
        // Across the lanes in the fixed tree LLVM emits for a reassociable reduction: the same bits at any
        // thread count, since each element is summed by one chunk.
        llvm::Value* sum = b.CreateFAddReduce(llvm::ConstantFP::get(t, 0.0), b.CreateLoad(vt, acc[size_t(m * cols + j)]));
        llvm::FastMathFlags fmf;
        fmf.setAllowReassoc();
        llvm::cast<llvm::Instruction>(sum)->setFastMathFlags(fmf);
        llvm::Value* col = b.CreateAdd(n0, k.c64(j));
        llvm::Value* row = b.CreateAdd(m0, k.c64(m));
        llvm::Value* flat = b.CreateAdd(b.CreateMul(bi, k.c64(s.M * s.N)), b.CreateAdd(b.CreateMul(row, k.c64(s.N)), col));
        if (epi) epi->apply(sum, flat, s.indexOf(k, bi, row, col));
        else k.store(s.c, flat, sum);
      }
  }

  /// Calls f(first, count) for whole groups of `size` in [begin, end), then f(first, 1) for each left.
  void groups(llvm::Value* begin, llvm::Value* end, int64_t size, const std::function<void(llvm::Value*, int64_t)>& f) {
    llvm::Value* whole = b.CreateSDiv(b.CreateSub(end, begin), k.c64(size));
    k.loop(k.c64(0), whole, [&](llvm::Value* g) { f(b.CreateAdd(begin, b.CreateMul(g, k.c64(size))), size); }, true);
    if (size > 1) k.loop(b.CreateAdd(begin, b.CreateMul(whole, k.c64(size))), end, [&](llvm::Value* i) { f(i, 1); }, true);
  }
  llvm::Value* min64(llvm::Value* a, int64_t c) { return b.CreateSelect(b.CreateICmpSLT(a, k.c64(c)), a, k.c64(c)); }

  int64_t lower() {
    int64_t colBlocks = ceilDiv(s.N, blockCols), rowBlocks = ceilDiv(s.M, blockRows);
    // (batch, block of rows, block of columns): independent.
    k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* it) {
      llvm::Value* bi = b.CreateSDiv(it, k.c64(rowBlocks * colBlocks));
      llvm::Value* m0 = b.CreateMul(b.CreateSRem(b.CreateSDiv(it, k.c64(colBlocks)), k.c64(rowBlocks)), k.c64(blockRows));
      llvm::Value* n0 = b.CreateMul(b.CreateSRem(it, k.c64(colBlocks)), k.c64(blockCols));
      groups(m0, min64(b.CreateAdd(m0, k.c64(blockRows)), s.M), tile.rows, [&](llvm::Value* m, int64_t rows) {
        groups(n0, min64(b.CreateAdd(n0, k.c64(blockCols)), s.N), tile.cols, [&](llvm::Value* n, int64_t cols) { columns(bi, m, rows, n, cols); });
      });
    });
    return s.batch * rowBlocks * colBlocks;
  }
};

}  // namespace

bool usesDotPath(const GemmShape& s, bool aTransposed, bool bTransposed) {
  if (!bTransposed || (aTransposed && s.M > 1) || s.sumBatches) return false;
  return s.K >= 16 && ((s.M <= kDotMaxRows && s.N >= kDotCols) || usesNarrowPath(s));
}

DotTile dotTile(const GemmShape& s) {
  if (s.M <= kDotMaxRows) return {s.M, kDotCols};
  // All the columns, and as many rows as keep the accumulators within the registers with room for the
  // rows' vectors (16 on AVX2: one row of 10 columns; 32 on AVX-512: two).
  int64_t accumulators = hostTarget().avx512 ? 24 : 12;
  return {std::clamp<int64_t>(accumulators / s.N, 1, s.M), s.N};
}

int64_t dotBlockColumns(const GemmShape& s) {
  DotTile tile = dotTile(s);
  if (s.M > kDotMaxRows) return s.N;  // all of them: the blocks are of rows
  // About 1 MFLOP a block (a chunk threads may take), in whole groups of columns.
  int64_t cols = std::max<int64_t>(tile.cols, int64_t(1e6 / (2.0 * double(s.M) * double(s.K))) / tile.cols * tile.cols);
  return std::min(cols, ceilDiv(s.N, tile.cols) * tile.cols);
}

int64_t dotBlockRows(const GemmShape& s) {
  DotTile tile = dotTile(s);
  if (s.M <= kDotMaxRows) return s.M;
  // About 1 MFLOP a block, in whole tiles.
  int64_t rows = std::max<int64_t>(tile.rows, int64_t(1e6 / (2.0 * double(s.N) * double(s.K))) / tile.rows * tile.rows);
  return std::min(rows, ceilDiv(s.M, tile.rows) * tile.rows);
}

int64_t lowerDotGemm(KernelEmitter& k, const GemmSpec& spec, const Epilogue* epi) { return DotLowering{{k, spec, epi}}.lower(); }

}  // namespace kiln
