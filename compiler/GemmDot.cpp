// The GEMM engine's path for a few rows of A against a transposed B (a linear layer on one token while
// generating: C[1, N] = x[1, K] W[N, K]^T): each element of C is a dot product of two rows contiguous along
// K, so no operand is packed. Vectors of VL depths are multiplied into one accumulator per element, four
// columns of C at a time, then summed across their lanes in a fixed order.
#include <algorithm>

#include "compiler/Gemm.h"
#include "compiler/Jit.h"
#include "compiler/Lowering.h"

namespace kiln {

namespace {

constexpr int64_t kDotCols = 4;  ///< columns of C (rows of B) computed together

/// The dot-product kernel of one GEMM spec.
struct DotLowering {
  KernelEmitter& k;
  const GemmSpec& s;
  const Epilogue* epi;
  llvm::IRBuilder<>& b = k.b();
  int64_t bytes = dtypeSize(s.dtype);
  int64_t vl = (hostTarget().avx512 ? 64 : 32) / bytes;
  llvm::Type* t = k.valueType(s.dtype);
  llvm::VectorType* vt = llvm::FixedVectorType::get(t, unsigned(vl));
  int64_t blockCols = dotBlockColumns(s);

  /// Depths kk0.. of row `row` of a plain operand contiguous along K, under `mask` (zero off it).
  llvm::Value* rowVector(const std::function<llvm::Value*(KernelEmitter&, llvm::Value*)>& address, llvm::Value* rowStart,
                         llvm::Value* kk0, llvm::Value* mask) {
    return b.CreateMaskedLoad(vt, address(k, b.CreateAdd(rowStart, kk0)), llvm::Align(uint64_t(bytes)), mask,
                              llvm::ConstantFP::get(vt, 0.0));
  }

  /// C[bi, m, n0 + j] for every m < M and j < cols: the dot products, then the epilogue or the store.
  void columns(llvm::Value* bi, llvm::Value* n0, int64_t cols) {
    std::vector<llvm::Value*> acc;
    for (int64_t i = 0; i < s.M * cols; ++i) {
      acc.push_back(k.local(vt));
      b.CreateStore(llvm::ConstantFP::get(vt, 0.0), acc.back());
    }
    auto aRow = [&](int64_t m) { return b.CreateAdd(b.CreateMul(bi, k.c64(s.aBatchStride)), k.c64(m * s.K)); };
    auto bRow = [&](int64_t j) {
      return b.CreateAdd(b.CreateMul(bi, k.c64(s.bBatchStride)), b.CreateMul(b.CreateAdd(n0, k.c64(j)), k.c64(s.K)));
    };
    auto step = [&](llvm::Value* kk0, llvm::Value* mask) {
      std::vector<llvm::Value*> av, bv;
      for (int64_t m = 0; m < s.M; ++m) av.push_back(rowVector(s.aAddress, aRow(m), kk0, mask));
      for (int64_t j = 0; j < cols; ++j) bv.push_back(rowVector(s.bAddress, bRow(j), kk0, mask));
      for (int64_t m = 0; m < s.M; ++m)
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
    for (int64_t m = 0; m < s.M; ++m)
      for (int64_t j = 0; j < cols; ++j) {
        // Across the lanes in the fixed tree LLVM emits for a reassociable reduction: the same bits at any
        // thread count, since each element is summed by one chunk.
        llvm::Value* sum = b.CreateFAddReduce(llvm::ConstantFP::get(t, 0.0), b.CreateLoad(vt, acc[size_t(m * cols + j)]));
        llvm::FastMathFlags fmf;
        fmf.setAllowReassoc();
        llvm::cast<llvm::Instruction>(sum)->setFastMathFlags(fmf);
        llvm::Value* col = b.CreateAdd(n0, k.c64(j));
        llvm::Value* flat = b.CreateAdd(b.CreateMul(bi, k.c64(s.M * s.N)), b.CreateAdd(k.c64(m * s.N), col));
        if (epi) epi->apply(sum, flat, s.indexOf(k, bi, k.c64(m), col));
        else k.store(s.c, flat, sum);
      }
  }

  int64_t lower() {
    int64_t blocks = ceilDiv(s.N, blockCols);
    k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* it) {  // (batch, block of columns): independent
      llvm::Value* bi = b.CreateSDiv(it, k.c64(blocks));
      llvm::Value* n0 = b.CreateMul(b.CreateSRem(it, k.c64(blocks)), k.c64(blockCols));
      llvm::Value* end = b.CreateSelect(b.CreateICmpSLT(b.CreateAdd(n0, k.c64(blockCols)), k.c64(s.N)),
                                        b.CreateAdd(n0, k.c64(blockCols)), k.c64(s.N));
      llvm::Value* groups = b.CreateSDiv(b.CreateSub(end, n0), k.c64(kDotCols));
      k.loop(k.c64(0), groups, [&](llvm::Value* g) { columns(bi, b.CreateAdd(n0, b.CreateMul(g, k.c64(kDotCols))), kDotCols); }, true);
      k.loop(b.CreateAdd(n0, b.CreateMul(groups, k.c64(kDotCols))), end, [&](llvm::Value* n) { columns(bi, n, 1); }, true);
    });
    return s.batch * blocks;
  }
};

}  // namespace

bool usesDotPath(const GemmShape& s, bool aTransposed, bool bTransposed) {
  return bTransposed && (!aTransposed || s.M == 1) && !s.sumBatches && s.M <= kDotMaxRows && s.K >= 16 && s.N >= kDotCols;
}

int64_t dotBlockColumns(const GemmShape& s) {
  // About 1 MFLOP a block (a chunk threads may take), in whole groups of columns.
  int64_t cols = std::max<int64_t>(kDotCols, int64_t(1e6 / (2.0 * double(s.M) * double(s.K))) / kDotCols * kDotCols);
  return std::min(cols, ceilDiv(s.N, kDotCols) * kDotCols);
}

int64_t lowerDotGemm(KernelEmitter& k, const GemmSpec& spec, const Epilogue* epi) { return DotLowering{k, spec, epi}.lower(); }

}  // namespace kiln
