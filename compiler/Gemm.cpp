// The GEMM engine for matmul, in the style of BLIS: for each batch, C = op(A) op(B) is computed in cache
// blocks (NC columns of B, KC of the contracted dimension, MC rows of A), each block of B and of A packed
// into scratch as panels of NR columns and MR rows (zero-padded at the edges, transposes absorbed by the
// packing), and every MR x NR tile of C computed by a micro-kernel of MR x NR/VL vector accumulators fed by
// FMAs. Tiles at the edges are stored with masked stores and row guards; the epilogue of a fused kernel
// runs on the register tile after its last block of K, before anything is stored (or, when some member
// cannot compute on vectors, on each stored tile element by element, while it is in cache).
#include <algorithm>

#include <fmt/format.h>
#include <llvm/IR/Intrinsics.h>

#include "compiler/Gemm.h"
#include "compiler/Jit.h"
#include "compiler/Lowering.h"
#include "ir/Error.h"

namespace kiln {

namespace {

/// One GEMM kernel on the engine, from its spec. The outer loop (the kernel's [begin, end)) runs over the
/// batches and the blocks of NC columns.
struct GemmLowering {
  KernelEmitter& k;
  const GemmSpec& spec;
  const Epilogue* epi;
  int64_t M = spec.M, N = spec.N, K = spec.K;
  GemmPlan p = planGemm(spec);
  llvm::IRBuilder<>& b = k.b();
  llvm::Type* t = k.valueType(spec.dtype);
  llvm::VectorType* vt = llvm::FixedVectorType::get(t, unsigned(p.vl));
  int64_t nv = p.nr / p.vl;
  int64_t bytes = dtypeSize(spec.dtype);
  NodeId C = spec.c;
  llvm::Value* packA = nullptr;
  llvm::Value* packB = nullptr;
  llvm::Value* result = nullptr;  // with finishBatch: the batch's result in scratch
  std::vector<llvm::Value*> acc = {};  // mr * nv accumulator slots, row-major
  llvm::Value* tileBuffer = nullptr;   // with vectorEpilogue: the accumulators copied for a loop over rows
  bool prepackA = spec.aShared && spec.batch > 1;  // pack A's blocks once, before the batch loop
  /// A row-major A is read where it lies (its panel's rows K apart: MR streams along K; see directPanel
  /// for the last panel). A transposed A is packed but where its depths lie close (M at most 1 kB): read in
  /// place, each depth of a panel is a line of its own, M apart (4 kB at M = 1024: one set of L1, a page
  /// each). A chunk of a few blocks of columns packed A again for itself: on Zen 4, 256x768x2048 ta (6
  /// blocks of 128 columns) ran at 149 GFLOP/s on 2 threads packed and 180 in place, and 90-92 and 95-96
  /// on 1 thread.
  bool directA = !prepackA && (spec.aLayout == GemmSpec::AlongK || (spec.aLayout == GemmSpec::AlongMN && M * bytes <= 1024));
  /// Packing A stores whole vectors where a panel's depth is MR < VL elements (a masked store is
  /// microcoded on AMD's AVX2): the lanes past MR spill into the next depth or panel, which is written
  /// after, and past the last into this slack at the end of A's scratch.
  int64_t packSlack = p.vl;
  /// The epilogue runs on the register tile (else on the stored tile, element by element): when it
  /// computes on vectors, and the result is not a batch's scratch that finishBatch scatters.
  bool vectorEpilogue = epi && epi->applyVector && !spec.finishBatch;
  /// B is read where it lies, its rows N apart, instead of packed (see readsBInPlace).
  bool directB = readsBInPlace(spec, spec.bLayout == GemmSpec::AlongMN, p);

  /// Elements from one packed panel of A to the next: KC x MR rounded up to an odd number of cache lines.
  /// At 6 x 128 floats a panel is 48 lines, so packColumnsA's stores of one depth to 86 panels fell in 4
  /// sets of L1 and missed it every time (1024x256x2048 ta on Zen 5: 177 GFLOP/s, 216 with the odd stride).
  int64_t aPanelStride = (roundUp(p.kc * p.mr * bytes, 128) + 64) / bytes;
  /// Where depth kk of packed panel `panel` starts in A's block.
  llvm::Value* aPanelAt(llvm::Value* panel, llvm::Value* kk) {
    return b.CreateAdd(b.CreateMul(panel, k.c64(aPanelStride)), b.CreateMul(kk, k.c64(p.mr)));
  }
  /// Where a micro-kernel reads A: element (i, kk) of its panel at rows[i] + kk * kStride.
  struct PanelA { std::vector<llvm::Value*> rows; int64_t kStride; };

  /// The batch whose result the products of batch bi go to: bi, or its run's when the batches are summed.
  llvm::Value* resultBatch(llvm::Value* bi) { return spec.sumBatches ? run : bi; }
  /// With sumBatches: the run of batches being summed, and its first and last batch.
  llvm::Value *run = nullptr, *runFirst = nullptr, *runLast = nullptr;
  llvm::Value* min64(llvm::Value* a, int64_t c) { return b.CreateSelect(b.CreateICmpSLT(a, k.c64(c)), a, k.c64(c)); }
  llvm::Value* elementPtr(llvm::Value* base, llvm::Value* index) { return b.CreateInBoundsGEP(t, base, index); }
  llvm::Value* aAt(llvm::Value* bi, llvm::Value* m, llvm::Value* kk) { return spec.a(k, bi, m, kk); }
  llvm::Value* bAt(llvm::Value* bi, llvm::Value* kk, llvm::Value* col) { return spec.b(k, bi, kk, col); }

  /// B[pc.., jc..] into panels of NR columns: packB[(panel * KC + kk) * NR + j], zero past N. The loop
  /// that reads B runs along B's rows: along the columns of op(B), or down them when B is transposed.
  void packBlockB(llvm::Value* bi, llvm::Value* jc, llvm::Value* pc, llvm::Value* kcCur, llvm::Value* panels) {
    k.loop(k.c64(0), panels, [&](llvm::Value* panel) {
      auto element = [&](llvm::Value* kk, llvm::Value* j) {
        llvm::Value* dst = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(panel, k.c64(p.kc)), kk), k.c64(p.nr)), j);
        llvm::Value* col = b.CreateAdd(b.CreateAdd(jc, b.CreateMul(panel, k.c64(p.nr))), j);
        llvm::Value* inside = b.CreateICmpSLT(col, k.c64(N));
        llvm::Value* v = bAt(bi, b.CreateAdd(pc, kk), b.CreateSelect(inside, col, k.c64(0)));
        b.CreateStore(b.CreateSelect(inside, v, llvm::ConstantFP::get(t, 0.0)), elementPtr(packB, dst));
      };
      if (spec.bLayout == GemmSpec::AlongMN) {  // each depth: NR/VL masked vectors of one row of B
        k.loop(k.c64(0), kcCur, [&](llvm::Value* kk) { rowB(bi, jc, pc, panel, kk); });
        return;
      }
      if (spec.bLayout == GemmSpec::Other) {
        k.loop(k.c64(0), kcCur, [&](llvm::Value* kk) { k.loop(p.nr, [&](llvm::Value* j) { element(kk, j); }); });
        return;
      }
      // Transposed B: VL x VL blocks read as VL vectors along K and transposed in registers; the K tail
      // element by element.
      llvm::Value* full = b.CreateMul(b.CreateSDiv(kcCur, k.c64(p.vl)), k.c64(p.vl));
      k.loop(k.c64(0), b.CreateSDiv(kcCur, k.c64(p.vl)), [&](llvm::Value* kb) {
        k.loop(k.c64(0), k.c64(nv), [&](llvm::Value* g) { transposedBlockB(bi, jc, pc, panel, kb, g); }, true);
      });
      k.loop(p.nr, [&](llvm::Value* j) { k.loop(full, kcCur, [&](llvm::Value* kk) { element(kk, j); }); });
    }, true);  // rolled: a fully unrolled packing of constant size is huge code
  }

  /// Depth kk of a row-major B's panel: NR consecutive elements of row pc+kk of B, read as NR/VL vectors
  /// masked past N (read as zero).
  void rowB(llvm::Value* bi, llvm::Value* jc, llvm::Value* pc, llvm::Value* panel, llvm::Value* kk) {
    llvm::Value* laneIndex = lanes([&](int64_t l) { return b.getInt64(uint64_t(l)); });
    llvm::Value* col0 = b.CreateAdd(jc, b.CreateMul(panel, k.c64(p.nr)));
    llvm::Value* src = b.CreateAdd(b.CreateMul(bi, k.c64(spec.bBatchStride)), b.CreateAdd(b.CreateMul(b.CreateAdd(pc, kk), k.c64(N)), col0));
    llvm::Value* dst = b.CreateMul(b.CreateAdd(b.CreateMul(panel, k.c64(p.kc)), kk), k.c64(p.nr));
    for (int64_t g = 0; g < nv; ++g) {
      llvm::Value* cols = b.CreateAdd(b.CreateVectorSplat(unsigned(p.vl), b.CreateAdd(col0, k.c64(g * p.vl))), laneIndex);
      llvm::Value* inside = b.CreateICmpSLT(cols, b.CreateVectorSplat(unsigned(p.vl), k.c64(N)));
      llvm::Value* v = b.CreateMaskedLoad(vt, spec.bAddress(k, b.CreateAdd(src, k.c64(g * p.vl))), llvm::Align(bytes), inside,
                                          llvm::ConstantFP::get(vt, 0.0));
      b.CreateAlignedStore(v, elementPtr(packB, b.CreateAdd(dst, k.c64(g * p.vl))), llvm::Align(64));
    }
  }

  /// The constant vector <f(0), ..., f(VL-1)> of i64 lane numbers or i1 lane flags.
  llvm::Constant* lanes(const std::function<llvm::Constant*(int64_t)>& f) {
    std::vector<llvm::Constant*> v;
    for (int64_t l = 0; l < p.vl; ++l) v.push_back(f(l));
    return llvm::ConstantVector::get(v);
  }
  /// Lanes 0..n-1 on.
  llvm::Constant* firstLanes(int64_t n) { return lanes([&](int64_t l) { return b.getInt1(l < n); }); }

  /// Depths pc+kk0 .. pc+kk0+VL-1 of row `r` of a plain operand contiguous along K (an A row-major, a B
  /// transposed), as one vector; zero when r >= limit.
  llvm::Value* rowAlongK(const std::function<llvm::Value*(KernelEmitter&, llvm::Value*)>& address, int64_t batchStride,
                         llvm::Value* bi, llvm::Value* r, int64_t limit, llvm::Value* pc, llvm::Value* kk0) {
    llvm::Value* inside = b.CreateICmpSLT(r, k.c64(limit));
    llvm::Value* src = b.CreateAdd(b.CreateMul(bi, k.c64(batchStride)),
                                   b.CreateAdd(b.CreateMul(b.CreateSelect(inside, r, k.c64(0)), k.c64(K)), b.CreateAdd(pc, kk0)));
    llvm::Value* v = b.CreateAlignedLoad(vt, address(k, src), llvm::Align(bytes));
    return b.CreateSelect(inside, v, llvm::ConstantFP::get(vt, 0.0));
  }

  /// One VL x VL block of a transposed B's panel: columns g*VL.. of the panel, depths kb*VL.. of the block.
  void transposedBlockB(llvm::Value* bi, llvm::Value* jc, llvm::Value* pc, llvm::Value* panel, llvm::Value* kb, llvm::Value* g) {
    llvm::Value* kk0 = b.CreateMul(kb, k.c64(p.vl));
    std::vector<llvm::Value*> rows;
    llvm::Value* col0 = b.CreateAdd(b.CreateAdd(jc, b.CreateMul(panel, k.c64(p.nr))), b.CreateMul(g, k.c64(p.vl)));
    if (N % p.vl == 0) {  // the VL columns lie inside N or outside it together: one test, one address
      llvm::Value* inside = b.CreateICmpSLT(col0, k.c64(N));
      llvm::Value* first = b.CreateAdd(b.CreateMul(bi, k.c64(spec.bBatchStride)),
                                       b.CreateAdd(b.CreateMul(b.CreateSelect(inside, col0, k.c64(0)), k.c64(K)), b.CreateAdd(pc, kk0)));
      for (int64_t c = 0; c < p.vl; ++c) {  // row c: column col0 + c of op(B), depths kk0.. (contiguous in B)
        llvm::Value* v = b.CreateAlignedLoad(vt, spec.bAddress(k, b.CreateAdd(first, k.c64(c * K))), llvm::Align(bytes));
        rows.push_back(b.CreateSelect(inside, v, llvm::ConstantFP::get(vt, 0.0)));
      }
    } else {
      for (int64_t c = 0; c < p.vl; ++c)
        rows.push_back(rowAlongK(spec.bAddress, spec.bBatchStride, bi, b.CreateAdd(col0, k.c64(c)), N, pc, kk0));
    }
    k.transposeInRegisters(rows);
    for (int64_t q = 0; q < p.vl; ++q) {  // row q now holds depth kk0 + q of the VL columns
      llvm::Value* dst = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(panel, k.c64(p.kc)), b.CreateAdd(kk0, k.c64(q))), k.c64(p.nr)),
                                     b.CreateMul(g, k.c64(p.vl)));
      b.CreateAlignedStore(rows[size_t(q)], elementPtr(packB, dst), llvm::Align(64));
    }
  }

  /// A[ic.., pc..] into panels of MR rows: packA[(panel * KC + kk) * MR + i], zero past M. The loop that
  /// reads A runs along A's rows, as for B.
  void packBlockA(llvm::Value* into, llvm::Value* bi, llvm::Value* ic, llvm::Value* pc, llvm::Value* kcCur, llvm::Value* panels) {
    if (spec.aLayout == GemmSpec::AlongMN && p.mr <= p.vl) return packColumnsA(into, bi, ic, pc, kcCur, panels);
    k.loop(k.c64(0), panels, [&](llvm::Value* panel) {
      auto element = [&](llvm::Value* kk, llvm::Value* i) {
        llvm::Value* dst = b.CreateAdd(aPanelAt(panel, kk), i);
        llvm::Value* row = b.CreateAdd(b.CreateAdd(ic, b.CreateMul(panel, k.c64(p.mr))), i);
        llvm::Value* inside = b.CreateICmpSLT(row, k.c64(M));
        llvm::Value* v = aAt(bi, b.CreateSelect(inside, row, k.c64(0)), b.CreateAdd(pc, kk));
        b.CreateStore(b.CreateSelect(inside, v, llvm::ConstantFP::get(t, 0.0)), elementPtr(into, dst));
      };
      if (p.mr > p.vl || spec.aLayout == GemmSpec::Other) {
        k.loop(k.c64(0), kcCur, [&](llvm::Value* kk) { k.loop(p.mr, [&](llvm::Value* i) { element(kk, i); }); });
        return;
      }
      // A row-major: VL-deep blocks of its MR rows read as vectors along K and transposed in registers;
      // the K tail element by element.
      llvm::Value* full = b.CreateMul(b.CreateSDiv(kcCur, k.c64(p.vl)), k.c64(p.vl));
      k.loop(k.c64(0), b.CreateSDiv(kcCur, k.c64(p.vl)), [&](llvm::Value* kb) { blockA(into, bi, ic, pc, panel, kb); });
      k.loop(p.mr, [&](llvm::Value* i) { k.loop(full, kcCur, [&](llvm::Value* kk) { element(kk, i); }); });
    }, true);  // rolled: a fully unrolled packing of constant size is huge code
  }

  /// A transposed A (op(A)'s columns are A's rows) packed depth by depth across all the block's panels:
  /// each depth reads one run of MC elements of A's row, and the row 8 depths ahead is asked for
  /// meanwhile (a row is a page of its own at M = 1024, where the hardware's prefetchers stop). Packed 8
  /// panels at a time without the prefetch, A took 30% of 1024x256x2048 ta on Zen 5 (167 GFLOP/s; 238
  /// with its packing skipped, timed only; 209-216 now, with aPanelStride). A depth's vector spills into
  /// the depths after it, written later; the last depths' would reach the next panel: they store MR lanes.
  void packColumnsA(llvm::Value* into, llvm::Value* bi, llvm::Value* ic, llvm::Value* pc, llvm::Value* kcCur, llvm::Value* panels) {
    llvm::Value* spillFrom = b.CreateSub(kcCur, k.c64(std::min<int64_t>(ceilDiv(p.vl - p.mr, p.mr), p.kc)));
    spillFrom = b.CreateSelect(b.CreateICmpSGT(spillFrom, k.c64(0)), spillFrom, k.c64(0));
    for (bool masked : {false, true})
      k.loop(masked ? spillFrom : k.c64(0), masked ? kcCur : spillFrom, [&](llvm::Value* kk) {
        llvm::Value* ahead = min64(b.CreateAdd(b.CreateAdd(pc, kk), k.c64(8)), K - 1);  // 4 to 16: the same
        k.loop(k.c64(0), panels, [&](llvm::Value* panel) { columnA(into, bi, ic, pc, panel, kk, ahead, masked && p.mr < p.vl); }, true);
      }, true);
  }

  /// Depth kk of a transposed A's panel: its MR rows are contiguous in A, read as one vector, a plain load
  /// where its VL rows lie in A (lanes past MR: A's next rows), else masked, rows past M read as zero; then
  /// stored whole (the lanes past MR spill forward, see packColumnsA) or, with `masked`, its MR lanes alone.
  /// The same rows at depth `ahead` are prefetched.
  void columnA(llvm::Value* into, llvm::Value* bi, llvm::Value* ic, llvm::Value* pc, llvm::Value* panel, llvm::Value* kk,
               llvm::Value* ahead, bool masked) {
    llvm::Value* row0 = b.CreateAdd(ic, b.CreateMul(panel, k.c64(p.mr)));
    llvm::Value* batch = b.CreateMul(bi, k.c64(spec.aBatchStride));
    llvm::Value* at = spec.aAddress(k, b.CreateAdd(batch, b.CreateAdd(b.CreateMul(b.CreateAdd(pc, kk), k.c64(M)), row0)));
    llvm::Value* next = spec.aAddress(k, b.CreateAdd(batch, b.CreateAdd(b.CreateMul(ahead, k.c64(M)), row0)));
    k.intrinsic(llvm::Intrinsic::prefetch, b.getPtrTy(), {next, b.getInt32(0), b.getInt32(3), b.getInt32(1)});
    llvm::Value* to = elementPtr(into, aPanelAt(panel, kk));
    auto store = [&](llvm::Value* v) {
      masked ? (void)b.CreateMaskedStore(v, to, llvm::Align(bytes), firstLanes(p.mr)) : (void)b.CreateAlignedStore(v, to, llvm::Align(bytes));
    };
    k.ifElse(b.CreateICmpSLE(b.CreateAdd(row0, k.c64(p.vl)), k.c64(M)), [&] { store(b.CreateAlignedLoad(vt, at, llvm::Align(bytes))); },
           [&] {
             llvm::Value* rows = b.CreateAdd(b.CreateVectorSplat(unsigned(p.vl), row0), lanes([&](int64_t l) { return b.getInt64(uint64_t(l)); }));
             llvm::Value* inside = b.CreateAnd(b.CreateICmpSLT(rows, b.CreateVectorSplat(unsigned(p.vl), k.c64(M))), firstLanes(p.mr));
             store(b.CreateMaskedLoad(vt, at, llvm::Align(bytes), inside, llvm::ConstantFP::get(vt, 0.0)));
           });
  }

  /// One MR x VL block of a row-major A's panel: its rows' depths kb*VL.., transposed (padded to VL x VL)
  /// into VL runs of MR elements.
  void blockA(llvm::Value* into, llvm::Value* bi, llvm::Value* ic, llvm::Value* pc, llvm::Value* panel, llvm::Value* kb) {
    llvm::Value* kk0 = b.CreateMul(kb, k.c64(p.vl));
    std::vector<llvm::Value*> rows;
    for (int64_t i = 0; i < p.vl; ++i) {
      if (i >= p.mr) {
        rows.push_back(llvm::ConstantFP::get(vt, 0.0));
        continue;
      }
      llvm::Value* row = b.CreateAdd(b.CreateAdd(ic, b.CreateMul(panel, k.c64(p.mr))), k.c64(i));
      rows.push_back(rowAlongK(spec.aAddress, spec.aBatchStride, bi, row, M, pc, kk0));
    }
    k.transposeInRegisters(rows);
    for (int64_t q = 0; q < p.vl; ++q) {  // row q: depth kk0 + q of the MR rows (lanes past MR: see packSlack)
      llvm::Value* dst = aPanelAt(panel, b.CreateAdd(kk0, k.c64(q)));
      b.CreateAlignedStore(rows[size_t(q)], elementPtr(into, dst), llvm::Align(bytes));
    }
  }

  /// Where element (row, col) of batch bi's result is stored: C, or the batch's scratch with finishBatch.
  llvm::Value* resultPtr(llvm::Value* bi, llvm::Value* row, llvm::Value* col) {
    if (result) return elementPtr(result, b.CreateAdd(b.CreateMul(row, k.c64(N)), col));
    return k.address(C, flatIndex(bi, row, col));
  }

  /// Asks for what the tile at (row0, col0) touches after its micro-kernel, so that it hits L1 instead
  /// of waiting on L3 or memory: C's lines unless it neither reads nor stores C (its only block of K, the
  /// epilogue on the register tile), and in the last block of K the epilogue's operands and results (a
  /// weight gradient's parameter and momentum, cold since the last step). A loop over the tile's rows.
  void prefetchTile(llvm::Value* bi, llvm::Value* row0, llvm::Value* col0, llvm::Value* first, llvm::Value* last) {
    auto lines = [&](const std::function<void(llvm::Value*, llvm::Value*)>& f) {  // f(row, col) per line
      k.loop(row0, b.CreateAdd(row0, k.c64(p.mr)), [&](llvm::Value* row) {
        row = b.CreateSelect(b.CreateICmpSLT(row, k.c64(M)), row, k.c64(M - 1));
        for (int64_t c = 0; c < p.nr; c += 64 / bytes)
          f(row, min64(b.CreateAdd(col0, k.c64(c)), N - 1));
      }, true);
    };
    auto lineOfC = [&](llvm::Value* row, llvm::Value* col) {
      k.intrinsic(llvm::Intrinsic::prefetch, b.getPtrTy(), {resultPtr(bi, row, col), b.getInt32(1), b.getInt32(3), b.getInt32(1)});
    };
    if (!vectorEpilogue) lines(lineOfC);
    else k.when(b.CreateNot(b.CreateAnd(first, last)), [&] { lines(lineOfC); });
    if (epi && epi->prefetch) k.when(last, [&] { lines([&](llvm::Value* row, llvm::Value* col) { epi->prefetch(flatIndex(bi, row, col)); }); });
  }
  /// The row-major index of element (row, col) of batch bi's result in the contraction's node.
  llvm::Value* flatIndex(llvm::Value* bi, llvm::Value* row, llvm::Value* col) {
    return b.CreateAdd(b.CreateMul(resultBatch(bi), k.c64(M * N)), b.CreateAdd(b.CreateMul(row, k.c64(N)), col));
  }

  /// The panel of A at rows row0.., depths pc.. read in place (directA). Rows past M read row M-1: their
  /// accumulators are never stored, and the last panel needs no packed copy nor a micro-kernel of its own.
  PanelA directPanel(llvm::Value* bi, llvm::Value* row0, llvm::Value* pc) {
    llvm::Value* batch = b.CreateMul(bi, k.c64(spec.aBatchStride));
    PanelA panel{{}, spec.aLayout == GemmSpec::AlongK ? 1 : M};
    for (int64_t i = 0; i < p.mr; ++i) {
      llvm::Value* row = b.CreateAdd(row0, k.c64(i));
      if (M % p.mr != 0) row = b.CreateSelect(b.CreateICmpSLT(row, k.c64(M)), row, k.c64(M - 1));
      llvm::Value* at = spec.aLayout == GemmSpec::AlongK ? b.CreateAdd(b.CreateMul(row, k.c64(K)), pc) : b.CreateAdd(b.CreateMul(pc, k.c64(M)), row);
      panel.rows.push_back(spec.aAddress(k, b.CreateAdd(batch, at)));
    }
    return panel;
  }

  /// The accumulators of one tile: sum over kk < kcCur of A's panel `ap` times B's panel at `bp` (packed:
  /// rows NR apart; with directB, B itself: rows N apart).
  void microKernel(PanelA ap, llvm::Value* bp, llvm::Value* kcCur) {
    llvm::Value* zero = llvm::ConstantFP::get(vt, 0.0);
    for (llvm::Value* a : acc) b.CreateStore(zero, a);
    k.loop(k.c64(0), kcCur, [&](llvm::Value* kk) {
      std::vector<llvm::Value*> bv;
      llvm::Value* brow = b.CreateMul(kk, k.c64(directB ? N : p.nr));
      for (int64_t v = 0; v < nv; ++v)
        bv.push_back(b.CreateAlignedLoad(vt, elementPtr(bp, b.CreateAdd(brow, k.c64(v * p.vl))), llvm::Align(directB ? bytes : 64)));
      llvm::Value* arow = b.CreateMul(kk, k.c64(ap.kStride));
      for (int64_t i = 0; i < p.mr; ++i) {
        llvm::Value* a = b.CreateLoad(t, elementPtr(ap.rows[size_t(i)], arow));
        llvm::Value* splat = b.CreateVectorSplat(unsigned(p.vl), a);
        for (int64_t v = 0; v < nv; ++v) {
          llvm::Value* slot = acc[size_t(i * nv + v)];
          llvm::Value* sum = k.intrinsic(llvm::Intrinsic::fma, vt, {splat, bv[size_t(v)], b.CreateLoad(vt, slot)});
          b.CreateStore(sum, slot);
        }
      }
    });
  }

  /// Calls f(slot, row, col, mask) for each accumulator of the tile at (row0, col0): `slot` holds the
  /// accumulator of C's row `row`, columns col.., `mask` the lanes within N; rows past M are skipped, and
  /// with `skipEmpty` so are vectors with no lane within N. With `rolled`, the accumulators are first
  /// copied to tileBuffer and the rows run as a loop over it: one copy of f's code, not MR (the epilogue,
  /// once per tile; unrolled, a weight gradient's optimizer update was a third of its kernel's IR).
  void tileVectors(llvm::Value* row0, llvm::Value* col0, bool skipEmpty, bool rolled,
                   const std::function<void(llvm::Value*, llvm::Value*, llvm::Value*, llvm::Value*)>& f) {
    llvm::Value* laneIndex = lanes([&](int64_t l) { return b.getInt64(uint64_t(l)); });
    llvm::Value* limit = b.CreateVectorSplat(unsigned(p.vl), k.c64(N));
    auto vectors = [&](bool full, llvm::Value* row, const std::function<llvm::Value*(int64_t)>& slot) {
      for (int64_t v = 0; v < nv; ++v) {
        llvm::Value* col = b.CreateAdd(col0, k.c64(v * p.vl));
        auto one = [&] {
          llvm::Value* mask = full ? firstLanes(p.vl)
                                   : b.CreateICmpSLT(b.CreateAdd(b.CreateVectorSplat(unsigned(p.vl), col), laneIndex), limit);
          f(slot(v), row, col, mask);
        };
        if (full || v == 0 || !skipEmpty) one();  // col0 < N
        else k.when(b.CreateICmpSLT(col, k.c64(N)), one);
      }
    };
    auto rows = [&](bool full) {  // full: every column of the tile within N, every mask a constant
      if (rolled) {
        k.loop(k.c64(0), min64(b.CreateSub(k.c64(M), row0), p.mr), [&](llvm::Value* i) {
          vectors(full, b.CreateAdd(row0, i), [&](int64_t v) { return b.CreateInBoundsGEP(vt, tileBuffer, b.CreateAdd(b.CreateMul(i, k.c64(nv)), k.c64(v))); });
        }, true);
        return;
      }
      for (int64_t i = 0; i < p.mr; ++i) {
        llvm::Value* row = b.CreateAdd(row0, k.c64(i));
        k.when(b.CreateICmpSLT(row, k.c64(M)), [&] { vectors(full, row, [&](int64_t v) { return acc[size_t(i * nv + v)]; }); });
      }
    };
    if (rolled)
      for (size_t i = 0; i < acc.size(); ++i) b.CreateStore(b.CreateLoad(vt, acc[i]), b.CreateConstInBoundsGEP1_64(vt, tileBuffer, i));
    // Masked stores are slow where masks are not registers (AVX2: vmaskmovps is microcoded on AMD), so
    // there tiles within N get plain loads and stores; AVX-512's masks are registers, and one variant of
    // the code is less to compile.
    if (N % p.nr == 0) rows(true);
    else if (p.vl * bytes == 64) rows(false);
    else k.ifElse(b.CreateICmpSLE(b.CreateAdd(col0, k.c64(p.nr)), k.c64(N)), [&] { rows(true); }, [&] { rows(false); });
  }

  /// Stores the tile at (row0, col0) of batch bi: C = acc where `first` holds (the first block of K, of
  /// the first batch when the batches are summed), else C += acc; masked past N, rows past M skipped.
  void storeTile(llvm::Value* bi, llvm::Value* row0, llvm::Value* col0, llvm::Value* first) {
    llvm::Value* readC = b.CreateVectorSplat(unsigned(p.vl), b.CreateNot(first));
    tileVectors(row0, col0, false, false, [&](llvm::Value* slot, llvm::Value* row, llvm::Value* col, llvm::Value* mask) {
      llvm::Value* ptr = resultPtr(bi, row, col);
      b.CreateMaskedStore(sumWithC(slot, ptr, mask, readC, first), ptr, llvm::Align(bytes), mask);
    });
  }
  /// The accumulator in `slot`, plus C's partial sum at `ptr` (the lanes of `mask`) unless `first`.
  llvm::Value* sumWithC(llvm::Value* slot, llvm::Value* ptr, llvm::Value* mask, llvm::Value* readC, llvm::Value* first) {
    llvm::Value* old = b.CreateMaskedLoad(vt, ptr, llvm::Align(bytes), b.CreateAnd(mask, readC), llvm::ConstantFP::get(vt, 0.0));
    llvm::Value* sum = b.CreateLoad(vt, slot);
    return b.CreateSelect(first, sum, b.CreateFAdd(old, sum));
  }

  /// The epilogue on the register tile at (row0, col0) after its last block of K, before anything is
  /// stored: each accumulator (plus C's partial sum unless `first`) goes to the epilogue as a vector,
  /// lanes past N masked, rows past M skipped; the partial sums are not stored.
  void epilogueRegisters(llvm::Value* bi, llvm::Value* row0, llvm::Value* col0, llvm::Value* first) {
    llvm::Value* readC = b.CreateVectorSplat(unsigned(p.vl), b.CreateNot(first));
    tileVectors(row0, col0, true, true, [&](llvm::Value* slot, llvm::Value* row, llvm::Value* col, llvm::Value* mask) {
      llvm::Value* sum = sumWithC(slot, resultPtr(bi, row, col), mask, readC, first);
      epi->applyVector(sum, flatIndex(bi, row, col), spec.indexOf(k, bi, row, col), mask);
    });
  }

  /// The epilogue on the tile at (row0, col0), element by element, once its last block of K is stored.
  void epilogueTile(llvm::Value* bi, llvm::Value* row0, llvm::Value* col0) {
    k.loop(p.mr, [&](llvm::Value* i) {
      llvm::Value* row = b.CreateAdd(row0, i);
      k.when(b.CreateICmpSLT(row, k.c64(M)), [&] {
        k.loop(col0, b.CreateSelect(b.CreateICmpSLT(b.CreateAdd(col0, k.c64(p.nr)), k.c64(N)),
                                    b.CreateAdd(col0, k.c64(p.nr)), k.c64(N)),
               [&](llvm::Value* col) {
                 llvm::Value* flat = flatIndex(bi, row, col);
                 std::vector<llvm::Value*> idx = spec.indexOf(k, bi, row, col);
                 epi->apply(k.load(C, flat), flat, idx);
               });
      });
    });
  }

  /// Every tile of the block (ic, jc) for the block of K at pc.
  void tiles(llvm::Value* bi, llvm::Value* aBlock, llvm::Value* ic, llvm::Value* jc, llvm::Value* pc, llvm::Value* kcCur,
             llvm::Value* aPanels, llvm::Value* bPanels) {
    llvm::Value* first = b.CreateICmpEQ(pc, k.c64(0));
    llvm::Value* last = b.CreateICmpEQ(b.CreateAdd(pc, kcCur), k.c64(K));
    if (spec.sumBatches) {
      first = b.CreateAnd(first, b.CreateICmpEQ(bi, runFirst));
      last = b.CreateAnd(last, b.CreateICmpEQ(bi, runLast));
    }
    k.loop(k.c64(0), bPanels, [&](llvm::Value* jr) {  // kept rolled: each tile is hundreds of instructions
      llvm::Value* col0 = b.CreateAdd(jc, b.CreateMul(jr, k.c64(p.nr)));
      llvm::Value* bp = directB ? spec.bAddress(k, b.CreateAdd(b.CreateMul(bi, k.c64(spec.bBatchStride)), b.CreateAdd(b.CreateMul(pc, k.c64(N)), col0)))
                                : elementPtr(packB, b.CreateMul(jr, k.c64(p.kc * p.nr)));
      k.loop(k.c64(0), aPanels, [&](llvm::Value* ir) {
        llvm::Value* row0 = b.CreateAdd(ic, b.CreateMul(ir, k.c64(p.mr)));
        prefetchTile(bi, row0, col0, first, last);
        if (directA) {
          microKernel(directPanel(bi, row0, pc), bp, kcCur);
        } else {
          PanelA packed{{}, p.mr};
          llvm::Value* panel = elementPtr(aBlock, b.CreateMul(ir, k.c64(aPanelStride)));
          for (int64_t i = 0; i < p.mr; ++i) packed.rows.push_back(elementPtr(panel, k.c64(i)));
          microKernel(packed, bp, kcCur);
        }
        auto store = [&] { storeTile(bi, row0, col0, first); };
        if (vectorEpilogue) {
          k.ifElse(last, [&] { epilogueRegisters(bi, row0, col0, first); }, store);
        } else {
          store();
          if (epi) k.when(last, [&] { epilogueTile(bi, row0, col0); });
        }
      }, true);
    }, true);
  }

  int64_t aBlockElements() const { return ceilDiv(p.mc, p.mr) * aPanelStride; }
  /// Where block (ib, pb) of A is packed: one block reused, or with prepackA every block in its own place.
  llvm::Value* aBlock(llvm::Value* ib, llvm::Value* pb) {
    if (!prepackA) return packA;
    llvm::Value* index = b.CreateAdd(b.CreateMul(pb, k.c64(ceilDiv(M, p.mc))), ib);
    return elementPtr(packA, b.CreateMul(index, k.c64(aBlockElements())));
  }
  /// Calls f(ib, ic, aPanels) for each block of MC rows, or for blocks [from, to) when they are set.
  void rowBlocks(const std::function<void(llvm::Value*, llvm::Value*, llvm::Value*)>& f, llvm::Value* from = nullptr,
                 llvm::Value* to = nullptr) {
    k.loop(from ? from : k.c64(0), to ? to : k.c64(ceilDiv(M, p.mc)), [&](llvm::Value* ib) {
      llvm::Value* ic = b.CreateMul(ib, k.c64(p.mc));
      llvm::Value* mcCur = min64(b.CreateSub(k.c64(M), ic), p.mc);
      f(ib, ic, b.CreateSDiv(b.CreateAdd(mcCur, k.c64(p.mr - 1)), k.c64(p.mr)));
    });
  }
  /// Calls f(pb, pc, kcCur) for each block of KC depths.
  void depthBlocks(const std::function<void(llvm::Value*, llvm::Value*, llvm::Value*)>& f) {
    k.loop(ceilDiv(K, p.kc), [&](llvm::Value* pb) {
      llvm::Value* pc = b.CreateMul(pb, k.c64(p.kc));
      f(pb, pc, min64(b.CreateSub(k.c64(K), pc), p.kc));
    });
  }

  /// Calls f(jc, ncCur) for block jb of NC columns: its first column and its width.
  void columns(llvm::Value* jb, const std::function<void(llvm::Value*, llvm::Value*)>& f) {
    llvm::Value* jc = b.CreateMul(jb, k.c64(p.nc));
    f(jc, min64(b.CreateSub(k.c64(N), jc), p.nc));
  }
  /// Blocks [jbBegin, jbEnd) of batch bi's columns (with splitRows, of its block of rows onlyRows alone):
  /// K outermost, so each block of A is packed once for all of them, and each block of B as its tiles
  /// start (in L2).
  void columnGroup(llvm::Value* bi, llvm::Value* jbBegin, llvm::Value* jbEnd, llvm::Value* onlyRows) {
    if (spec.startBatch)
      k.loop(jbBegin, jbEnd, [&](llvm::Value* jb) {
        columns(jb, [&](llvm::Value* jc, llvm::Value* ncCur) { spec.startBatch(k, bi, jc, b.CreateAdd(jc, ncCur)); });
      }, true);
    depthBlocks([&](llvm::Value* pb, llvm::Value* pc, llvm::Value* kcCur) {
      rowBlocks([&](llvm::Value* ib, llvm::Value* ic, llvm::Value* aPanels) {
        llvm::Value* block = aBlock(ib, pb);
        if (!prepackA && !directA) packBlockA(block, bi, ic, pc, kcCur, aPanels);
        k.loop(jbBegin, jbEnd, [&](llvm::Value* jb) {
          columns(jb, [&](llvm::Value* jc, llvm::Value* ncCur) {
            llvm::Value* bPanels = b.CreateSDiv(b.CreateAdd(ncCur, k.c64(p.nr - 1)), k.c64(p.nr));
            if (!directB) packBlockB(bi, jc, pc, kcCur, bPanels);
            tiles(bi, block, ic, jc, pc, kcCur, aPanels, bPanels);
          });
        }, true);
      }, onlyRows, onlyRows ? b.CreateAdd(onlyRows, k.c64(1)) : nullptr);
    });
    if (spec.finishBatch) spec.finishBatch(k, bi, result);  // blocks == 1: the batch's whole result
  }
  /// Row blocks [ibBegin, ibEnd) of batch bi's column block jb, A read in place (rowsInner): each block
  /// of B is packed once for all of them, where columnGroup packs it again for every block of rows.
  void rowGroup(llvm::Value* bi, llvm::Value* jb, llvm::Value* ibBegin, llvm::Value* ibEnd) {
    depthBlocks([&](llvm::Value*, llvm::Value* pc, llvm::Value* kcCur) {
      columns(jb, [&](llvm::Value* jc, llvm::Value* ncCur) {
        llvm::Value* bPanels = b.CreateSDiv(b.CreateAdd(ncCur, k.c64(p.nr - 1)), k.c64(p.nr));
        if (!directB) packBlockB(bi, jc, pc, kcCur, bPanels);
        rowBlocks([&](llvm::Value*, llvm::Value* ic, llvm::Value* aPanels) { tiles(bi, nullptr, ic, jc, pc, kcCur, aPanels, bPanels); },
                  ibBegin, ibEnd);
      });
    });
  }

  int64_t lower() {
    packB = k.scratch(p.kc * roundUp(p.nc, p.nr) * bytes);
    int64_t aBlocks = prepackA ? ceilDiv(M, p.mc) * ceilDiv(K, p.kc) : 1;
    if (!directA) packA = k.scratch(aBlocks * aBlockElements() * bytes + packSlack * bytes);
    for (int64_t i = 0; i < p.mr * nv; ++i) acc.push_back(k.local(vt));
    if (vectorEpilogue) tileBuffer = k.local(llvm::ArrayType::get(vt, uint64_t(p.mr * nv)));
    if (spec.finishBatch) result = k.scratch(M * N * bytes);
    if (prepackA)  // the same A for every batch: pack each of its blocks once
      depthBlocks([&](llvm::Value* pb, llvm::Value* pc, llvm::Value* kcCur) {
        rowBlocks([&](llvm::Value* ib, llvm::Value* ic, llvm::Value* aPanels) {
          packBlockA(aBlock(ib, pb), k.c64(0), ic, pc, kcCur, aPanels);
        });
      });
    // The outer loop runs over (batch, block of NC columns), or with splitRows (batch, block of MC rows,
    // block of NC columns), or (batch, block of NC columns, block of MC rows) when rowsInner: iterations
    // independent of each other, so any split of the range gives the same bits (the threads' chunks). A
    // range's consecutive blocks of the innermost kind run as a group.
    int64_t blocks = ceilDiv(N, p.nc), mBlocks = spec.splitRows ? ceilDiv(M, p.mc) : 1;
    if (spec.sumBatches) {  // one result per (run, column block): the run's batches in order inside it
      k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* t) {
        run = b.CreateSDiv(t, k.c64(blocks));
        runFirst = k.groupBegin(run, spec.batch, spec.groups);
        llvm::Value* end = k.groupBegin(b.CreateAdd(run, k.c64(1)), spec.batch, spec.groups);
        runLast = b.CreateSub(end, k.c64(1));
        llvm::Value* jb = b.CreateSRem(t, k.c64(blocks));
        k.loop(runFirst, end, [&](llvm::Value* bi) { columnGroup(bi, jb, b.CreateAdd(jb, k.c64(1)), nullptr); }, true);
      });
      return spec.groups * blocks;
    }
    // With A read in place and M split, the blocks of rows run innermost (rowGroup), so a range packs each
    // block of B once for all its blocks of rows (96x256x2048 ta, 8 blocks of 48 rows x 64 columns: B was
    // packed for every 48 rows). Else the blocks of columns (columnGroup: a packed A, once for all).
    bool rowsInner = spec.splitRows && directA && !spec.startBatch && !spec.finishBatch;
    int64_t inner = rowsInner ? mBlocks : blocks, outer = rowsInner ? blocks : mBlocks;
    llvm::Value* begin = k.rangeBegin();
    llvm::Value* end = k.rangeEnd();
    llvm::Value* groupsEnd = b.CreateSDiv(b.CreateAdd(end, k.c64(inner - 1)), k.c64(inner));
    k.loop(b.CreateSDiv(begin, k.c64(inner)), groupsEnd, [&](llvm::Value* rest) {
      llvm::Value* first = b.CreateMul(rest, k.c64(inner));
      llvm::Value* from = b.CreateSub(b.CreateSelect(b.CreateICmpSGT(begin, first), begin, first), first);
      llvm::Value* to = min64(b.CreateSub(end, first), inner);
      llvm::Value* bi = b.CreateSDiv(rest, k.c64(outer));
      llvm::Value* o = b.CreateSRem(rest, k.c64(outer));
      k.when(b.CreateICmpSLT(from, to), [&] {
        if (rowsInner) rowGroup(bi, o, from, to);
        else columnGroup(bi, from, to, spec.splitRows ? o : nullptr);
      });
    }, true);
    return spec.batch * mBlocks * blocks;
  }
};

}  // namespace

GemmSpec gemmSpecFor(const Graph& g, NodeId id) {
  std::optional<GemmShape> shape = gemmShapeOf(g, id);
  KILN_ASSERT(shape.has_value(), "gemmSpecFor: not a contraction");
  GemmSpec s;
  static_cast<GemmShape&>(s) = *shape;
  return s;
}

int64_t lowerGemm(KernelEmitter& k, const GemmSpec& spec, const Epilogue* epi) {
  int64_t results = spec.sumBatches ? spec.groups : spec.batch;
  if (results * spec.M * spec.N == 0) return 0;  // nothing to compute
  if (spec.K == 0 || spec.batch == 0) {  // every sum is empty
    llvm::Value* zero = llvm::ConstantFP::get(k.valueType(spec.dtype), 0.0);
    k.loopNest({results, spec.M, spec.N}, [&](const std::vector<llvm::Value*>& i) {
      llvm::Value* flat = k.linear(i, {spec.M * spec.N, spec.N, 1});
      if (epi) epi->apply(zero, flat, spec.indexOf(k, i[0], i[1], i[2]));
      else k.store(spec.c, flat, zero);
    });
    return 1;
  }
  bool plain = spec.aAddress && spec.bAddress && !spec.startBatch && !spec.finishBatch && spec.aLayout != GemmSpec::Other &&
               spec.bLayout != GemmSpec::Other;
  if (plain && usesDotPath(spec, spec.aLayout == GemmSpec::AlongMN, spec.bLayout == GemmSpec::AlongK)) return lowerDotGemm(k, spec, epi);
  if (plain && usesNarrowPath(spec)) return lowerNarrowGemm(k, spec, epi);
  return GemmLowering{k, spec, epi}.lower();
}

}  // namespace kiln
