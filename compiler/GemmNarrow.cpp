// The GEMM engine's path for a narrow C: a few columns, not a whole number of vectors (a classifier's head,
// C[128, 10] = h[128, 512] W^T). The general engine's tiles are vectors along N, so 10 columns on AVX2's 8
// lanes pad to 16 and waste 3/8 of its multiplies. Here vectors run along M instead: a tile is R vectors
// of rows by all N columns, and each FMA multiplies a vector of A's rows by one broadcast element of B. A
// transposed A (contiguous along M) is read where it lies; a row-major A is packed, one block of K of a
// tile's rows at a time, VL x VL blocks transposed in registers. Its blocks of K are the general engine's
// (planGemm's KC) and every element is summed in the same order, so the result has the same bits as the
// engine would give it.
#include <algorithm>

#include <fmt/format.h>
#include <llvm/IR/Intrinsics.h>

#include "compiler/Gemm.h"
#include "compiler/Jit.h"
#include "compiler/Lowering.h"

namespace kiln {

namespace {

/// The narrow kernel of one GEMM spec.
struct NarrowLowering : GemmPathLowering {
  int64_t rowsPerTile = narrowTileRows(s);
  int64_t nv = rowsPerTile / vl;  ///< vectors of rows in a tile
  int64_t kc = planGemm(s).kc;   ///< the general engine's blocks of K, for its order of sums
  bool packA = s.aLayout == GemmSpec::AlongK;  ///< a row-major A: its tile's rows packed as [kc][rows]
  llvm::Value* packed = nullptr;
  llvm::Value* tileBuffer = nullptr;  ///< the accumulators, [N][rowsPerTile], for a rolled loop over them
  std::vector<llvm::Value*> acc = {};  ///< acc[n * nv + v]: column n, rows v*VL..

  llvm::Value* elementPtr(llvm::Value* base, llvm::Value* index) { return b.CreateInBoundsGEP(t, base, index); }
  llvm::Value* laneIndex() {
    std::vector<llvm::Constant*> l;
    for (int64_t i = 0; i < vl; ++i) l.push_back(b.getInt64(uint64_t(i)));
    return llvm::ConstantVector::get(l);
  }
  /// The lanes of the vector of rows row.. that lie within M.
  llvm::Value* rowsInside(llvm::Value* row) {
    return b.CreateICmpSLT(b.CreateAdd(b.CreateVectorSplat(unsigned(vl), row), laneIndex()),
                           b.CreateVectorSplat(unsigned(vl), k.c64(s.M)));
  }

  /// Rows row0.. of a row-major A at depths pc..pc+kcCur into `packed`: depth kk's rows at kk * rows,
  /// zero past M (tested only where `full` does not hold). VL-deep blocks are read as vectors along K and
  /// transposed in registers, the K tail element by element.
  void pack(llvm::Value* bi, llvm::Value* row0, llvm::Value* pc, llvm::Value* kcCur, bool full) {
    llvm::Value* batch = b.CreateMul(bi, k.c64(s.aBatchStride));
    llvm::Value* zero = llvm::ConstantFP::get(vt, 0.0);
    k.loop(k.c64(0), b.CreateSDiv(kcCur, k.c64(vl)), [&](llvm::Value* kb) {
      llvm::Value* kk0 = b.CreateMul(kb, k.c64(vl));
      for (int64_t v = 0; v < nv; ++v) {
        std::vector<llvm::Value*> rows;
        for (int64_t i = 0; i < vl; ++i) {
          llvm::Value* row = b.CreateAdd(row0, k.c64(v * vl + i));
          llvm::Value* inside = full ? b.getTrue() : b.CreateICmpSLT(row, k.c64(s.M));
          llvm::Value* at = b.CreateAdd(batch, b.CreateAdd(b.CreateMul(b.CreateSelect(inside, row, k.c64(0)), k.c64(s.K)), b.CreateAdd(pc, kk0)));
          llvm::Value* x = b.CreateAlignedLoad(vt, s.aAddress(k, at), llvm::Align(uint64_t(bytes)));
          rows.push_back(full ? x : b.CreateSelect(inside, x, zero));
        }
        k.transposeInRegisters(rows);
        for (int64_t q = 0; q < vl; ++q) {  // rows[q]: depth kk0 + q of the vector's rows
          llvm::Value* to = b.CreateAdd(b.CreateMul(b.CreateAdd(kk0, k.c64(q)), k.c64(rowsPerTile)), k.c64(v * vl));
          b.CreateAlignedStore(rows[size_t(q)], elementPtr(packed, to), llvm::Align(uint64_t(vl * bytes)));
        }
      }
    }, true);
    llvm::Value* whole = b.CreateMul(b.CreateSDiv(kcCur, k.c64(vl)), k.c64(vl));
    k.loop(whole, kcCur, [&](llvm::Value* kk) {
      k.loop(k.c64(0), k.c64(rowsPerTile), [&](llvm::Value* i) {
        llvm::Value* row = b.CreateAdd(row0, i);
        llvm::Value* inside = b.CreateICmpSLT(row, k.c64(s.M));
        llvm::Value* x = s.a(k, bi, b.CreateSelect(inside, row, k.c64(0)), b.CreateAdd(pc, kk));
        b.CreateStore(b.CreateSelect(inside, x, llvm::ConstantFP::get(t, 0.0)), elementPtr(packed, b.CreateAdd(b.CreateMul(kk, k.c64(rowsPerTile)), i)));
      }, true);
    }, true);
  }

  /// Vector v of the tile's rows at depth pc+kk: from `packed`, or from a transposed A where it lies
  /// (masked past M when `full` does not hold).
  llvm::Value* aVector(llvm::Value* bi, llvm::Value* row0, llvm::Value* pc, llvm::Value* kk, int64_t v, bool full) {
    if (packA)
      return b.CreateAlignedLoad(vt, elementPtr(packed, b.CreateAdd(b.CreateMul(kk, k.c64(rowsPerTile)), k.c64(v * vl))),
                                 llvm::Align(uint64_t(vl * bytes)));
    llvm::Value* row = b.CreateAdd(row0, k.c64(v * vl));
    llvm::Value* at = s.aAddress(k, b.CreateAdd(b.CreateMul(bi, k.c64(s.aBatchStride)),
                                                b.CreateAdd(b.CreateMul(b.CreateAdd(pc, kk), k.c64(s.M)), row)));
    if (full) return b.CreateAlignedLoad(vt, at, llvm::Align(uint64_t(bytes)));
    return b.CreateMaskedLoad(vt, at, llvm::Align(uint64_t(bytes)), rowsInside(row), llvm::ConstantFP::get(vt, 0.0));
  }

  /// The accumulators of the tile at row0 over depths pc..pc+kcCur: each depth, the tile's vectors of
  /// A times each column's element of B, broadcast.
  void microKernel(llvm::Value* bi, llvm::Value* row0, llvm::Value* pc, llvm::Value* kcCur, bool full) {
    for (llvm::Value* a : acc) b.CreateStore(llvm::ConstantFP::get(vt, 0.0), a);
    k.loop(k.c64(0), kcCur, [&](llvm::Value* kk) {
      std::vector<llvm::Value*> av;
      for (int64_t v = 0; v < nv; ++v) av.push_back(aVector(bi, row0, pc, kk, v, full));
      for (int64_t n = 0; n < s.N; ++n) {
        llvm::Value* splat = b.CreateVectorSplat(unsigned(vl), s.b(k, bi, b.CreateAdd(pc, kk), k.c64(n)));
        for (int64_t v = 0; v < nv; ++v) {
          llvm::Value* slot = acc[size_t(n * nv + v)];
          b.CreateStore(k.intrinsic(llvm::Intrinsic::fma, vt, {av[size_t(v)], splat, b.CreateLoad(vt, slot)}), slot);
        }
      }
    });
  }

  /// The tile's elements after its block of K at pc: C = the sum where `first`, else C + the sum; after
  /// the last block, the epilogue instead of the store. Rows past M are skipped; a rolled loop over the
  /// accumulators copied to tileBuffer (one copy of the epilogue's code).
  void finish(llvm::Value* bi, llvm::Value* row0, llvm::Value* first, llvm::Value* last) {
    for (size_t i = 0; i < acc.size(); ++i) b.CreateStore(b.CreateLoad(vt, acc[i]), b.CreateConstInBoundsGEP1_64(vt, tileBuffer, i));
    llvm::Value* rows = b.CreateSub(k.c64(s.M), row0);
    rows = b.CreateSelect(b.CreateICmpSLT(rows, k.c64(rowsPerTile)), rows, k.c64(rowsPerTile));
    k.loop(k.c64(0), rows, [&](llvm::Value* i) {
      llvm::Value* row = b.CreateAdd(row0, i);
      k.loop(k.c64(0), k.c64(s.N), [&](llvm::Value* n) {
        llvm::Value* sum = b.CreateLoad(t, elementPtr(tileBuffer, b.CreateAdd(b.CreateMul(n, k.c64(rowsPerTile)), i)));
        llvm::Value* flat = b.CreateAdd(b.CreateMul(bi, k.c64(s.M * s.N)), b.CreateAdd(b.CreateMul(row, k.c64(s.N)), n));
        // C's partial sum is read even where `first` discards it: C's own buffer, in bounds.
        llvm::Value* value = b.CreateSelect(first, sum, b.CreateFAdd(k.load(s.c, flat), sum));
        if (!epi) return k.store(s.c, flat, value);
        k.ifElse(last, [&] { epi->apply(value, flat, s.indexOf(k, bi, row, n)); }, [&] { k.store(s.c, flat, value); });
      }, true);
    }, true);
  }

  /// The tile at row0: every block of K (packed first with packA), each finished as above.
  void tile(llvm::Value* bi, llvm::Value* row0, bool full) {
    k.loop(k.c64(0), k.c64(ceilDiv(s.K, kc)), [&](llvm::Value* pb) {
      llvm::Value* pc = b.CreateMul(pb, k.c64(kc));
      llvm::Value* kcCur = b.CreateSub(k.c64(s.K), pc);
      kcCur = b.CreateSelect(b.CreateICmpSLT(kcCur, k.c64(kc)), kcCur, k.c64(kc));
      if (packA) pack(bi, row0, pc, kcCur, full);
      microKernel(bi, row0, pc, kcCur, full);
      finish(bi, row0, b.CreateICmpEQ(pc, k.c64(0)), b.CreateICmpEQ(b.CreateAdd(pc, kcCur), k.c64(s.K)));
    }, true);
  }

  int64_t lower() {
    for (int64_t i = 0; i < s.N * nv; ++i) acc.push_back(k.local(vt));
    tileBuffer = k.local(llvm::ArrayType::get(vt, uint64_t(s.N * nv)));
    if (packA) packed = k.scratch(kc * rowsPerTile * bytes);
    int64_t blockRows = narrowBlockRows(s), blocks = ceilDiv(s.M, blockRows);
    k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* it) {  // (batch, block of rows): independent
      llvm::Value* bi = b.CreateSDiv(it, k.c64(blocks));
      llvm::Value* first = b.CreateMul(b.CreateSRem(it, k.c64(blocks)), k.c64(blockRows));
      llvm::Value* end = b.CreateAdd(first, k.c64(blockRows));
      end = b.CreateSelect(b.CreateICmpSLT(end, k.c64(s.M)), end, k.c64(s.M));
      llvm::Value* tiles = b.CreateSDiv(b.CreateAdd(b.CreateSub(end, first), k.c64(rowsPerTile - 1)), k.c64(rowsPerTile));
      k.loop(k.c64(0), tiles, [&](llvm::Value* ti) {
        llvm::Value* row0 = b.CreateAdd(first, b.CreateMul(ti, k.c64(rowsPerTile)));
        if (s.M % rowsPerTile == 0) return tile(bi, row0, true);
        k.ifElse(b.CreateICmpSLE(b.CreateAdd(row0, k.c64(rowsPerTile)), k.c64(s.M)), [&] { tile(bi, row0, true); },
                 [&] { tile(bi, row0, false); });
      }, true);
    });
    return s.batch * blocks;
  }
};

}  // namespace

bool usesNarrowPath(const GemmShape& s) {
  int64_t vl = hostLanes(s.dtype);
  return !s.sumBatches && s.N <= kNarrowMaxColumns && s.N % vl != 0 && s.M >= vl;
}

int64_t narrowTileRows(const GemmShape& s) {
  // N accumulators a vector of rows, plus that vector and a broadcast, within the registers (16 on AVX2,
  // 32 on AVX-512): 10 columns take one vector of rows on AVX2 and two on AVX-512; at most four.
  int64_t registers = hostTarget().avx512 ? 32 : 16, vl = hostLanes(s.dtype);
  int64_t vectors = std::clamp<int64_t>((registers - 1) / (s.N + 1), 1, 4);
  return std::min(vectors, ceilDiv(s.M, vl)) * vl;
}

int64_t narrowBlockRows(const GemmShape& s) {
  // About 1 MFLOP a block (a chunk threads may take), in whole tiles.
  int64_t tile = narrowTileRows(s);
  int64_t tiles = std::max<int64_t>(1, int64_t(1e6 / (2.0 * double(tile) * double(s.N) * double(s.K))));
  return std::min(tiles, ceilDiv(s.M, tile)) * tile;
}

std::string describeNarrow(const GemmShape& s) {
  return fmt::format("gemm {} x [{} x {} x {}] {}: narrow, vectors along M ({} lanes), tile {}x{}, B broadcast, blocks kc {}, {} rows a chunk",
                     s.batch, s.M, s.N, s.K, dtypeName(s.dtype), hostLanes(s.dtype), narrowTileRows(s), s.N, planGemm(s).kc,
                     narrowBlockRows(s));
}

int64_t lowerNarrowGemm(KernelEmitter& k, const GemmSpec& spec, const Epilogue* epi) { return NarrowLowering{{k, spec, epi}}.lower(); }

}  // namespace kiln
