// matmul and the conv2d family as GEMMs on the engine (compiler/Gemm.cpp), and the poolings.
#include <limits>

#include <llvm/IR/Intrinsics.h>

#include "compiler/Lowering.h"
#include "ir/Error.h"

namespace kiln {

namespace {

/// Shapes and attributes of a conv2d, whichever of its three kernels is being emitted.
struct ConvDims {
  int64_t N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw;
};

ConvDims convDims(const Graph& g, const Node& n) {
  auto& a = std::get<ConvAttrs>(n.attrs);
  Shape x, w, y;
  if (n.op == Op::Conv2d) x = g[n.inputs[0]].type.shape, w = g[n.inputs[1]].type.shape, y = n.type.shape;
  if (n.op == Op::Conv2dGradInput) x = n.type.shape, w = g[n.inputs[1]].type.shape, y = g[n.inputs[0]].type.shape;
  if (n.op == Op::Conv2dGradWeight)  // with groups, the result holds one partial weight gradient per run
    x = g[n.inputs[0]].type.shape, w = convWeightShape(n.type.shape, a.groups.n), y = g[n.inputs[1]].type.shape;
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], a.stride[0], a.stride[1], a.padding[0], a.padding[1]};
}

}  // namespace

namespace {

/// Division and remainder of an index by a positive constant.
llvm::Value* udiv(KernelEmitter& k, llvm::Value* a, int64_t c) { return k.b().CreateUDiv(a, k.c64(c)); }
llvm::Value* urem(KernelEmitter& k, llvm::Value* a, int64_t c) { return k.b().CreateURem(a, k.c64(c)); }

/// Whether 0 <= v < n.
llvm::Value* inRange(KernelEmitter& k, llvm::Value* v, int64_t n) {
  return k.b().CreateAnd(k.b().CreateICmpSGE(v, k.c64(0)), k.b().CreateICmpSLT(v, k.c64(n)));
}

/// Fills rows [rowBegin, rowEnd) of `cols` (in scratch) with the im2col of sample n of X -- defined below.
void im2colRows(KernelEmitter& k, NodeId X, const ConvDims d, llvm::Value* cols, llvm::Value* n, llvm::Value* rowBegin,
                llvm::Value* rowEnd);

/// conv2d as a GEMM per sample: Y[o, (oh, ow)] = W[o, (c, kh, kw)] x im2col(X)[(c, kh, kw), (oh, ow)], each
/// sample's im2col filled into scratch as its batch starts, then packed as a plain matrix.
GemmSpec convForward(KernelEmitter& k, NodeId id, const ConvDims d, const Epilogue* epi) {
  const Graph& g = k.graph();
  NodeId X = g[id].inputs[0], W = g[id].inputs[1];
  GemmSpec s = gemmSpecFor(g, id);  // per sample: O x OH*OW x C*KH*KW
  s.aAddress = [=](KernelEmitter& k, llvm::Value* i) { return k.address(W, i); };
  s.aLayout = GemmSpec::AlongK, s.c = epi ? epi->target : id;
  int64_t K = s.K, N = s.N;
  llvm::Type* t = k.valueType(s.dtype);
  llvm::Value* cols = k.scratch(K * N * dtypeSize(s.dtype));
  s.bLayout = GemmSpec::AlongMN;
  s.bAddress = [=](KernelEmitter& k, llvm::Value* i) { return k.b().CreateInBoundsGEP(t, cols, i); };
  s.startBatch = [=](KernelEmitter& k, llvm::Value* n, llvm::Value*, llvm::Value*) {  // every row: a block reads all
    im2colRows(k, X, d, cols, n, k.c64(0), k.c64(K));
  };
  s.a = [=](KernelEmitter& k, llvm::Value*, llvm::Value* o, llvm::Value* kk) {
    return k.load(W, k.b().CreateAdd(k.b().CreateMul(o, k.c64(K)), kk));
  };
  s.b = [=](KernelEmitter& k, llvm::Value*, llvm::Value* kk, llvm::Value* col) {
    return k.b().CreateLoad(t, k.b().CreateInBoundsGEP(t, cols, k.linear({kk, col}, {N, 1})));
  };
  s.indexOf = [=](KernelEmitter& k, llvm::Value* n, llvm::Value* o, llvm::Value* col) {
    return std::vector<llvm::Value*>{n, o, udiv(k, col, d.OW), urem(k, col, d.OW)};
  };
  return s;
}

/// The [lo, hi) range of output positions o with 0 <= o * stride + k - pad < size, for a window offset k
/// known at run time: lo = ceil((pad - k) / stride) clamped to 0, hi = floor((size - 1 + pad - k) / stride) + 1
/// clamped to outSize (and to lo, when no position is valid).
std::pair<llvm::Value*, llvm::Value*> validRange(KernelEmitter& k, int64_t outSize, int64_t stride, llvm::Value* kk,
                                                 int64_t pad, int64_t size) {
  llvm::IRBuilder<>& b = k.b();
  llvm::Value* num = b.CreateSub(k.c64(pad), kk);
  llvm::Value* lo = b.CreateSelect(b.CreateICmpSLE(num, k.c64(0)), k.c64(0),
                                   b.CreateSDiv(b.CreateAdd(num, k.c64(stride - 1)), k.c64(stride)));
  llvm::Value* last = b.CreateSub(k.c64(size - 1 + pad), kk);
  llvm::Value* hi = b.CreateSelect(b.CreateICmpSLT(last, k.c64(0)), k.c64(0),
                                   b.CreateAdd(b.CreateSDiv(last, k.c64(stride)), k.c64(1)));
  hi = b.CreateSelect(b.CreateICmpSGT(hi, k.c64(outSize)), k.c64(outSize), hi);
  hi = b.CreateSelect(b.CreateICmpSLT(hi, lo), lo, hi);
  return {lo, hi};
}

/// conv2d_grad_input as a GEMM per sample and a scatter: cols[(c, kh, kw), (oh, ow)] = W^T x gY[o, (oh, ow)]
/// (both plain matrices), then each column added back to dX through its window (col2im), in a fixed order.
GemmSpec convGradInput(const Graph& g, NodeId id, const ConvDims d) {
  NodeId GY = g[id].inputs[0], W = g[id].inputs[1];
  GemmSpec s = gemmSpecFor(g, id);  // per sample: C*KH*KW x OH*OW x O
  int64_t M = s.M, N = s.N;
  DType dtype = s.dtype;
  s.aAddress = [=](KernelEmitter& k, llvm::Value* i) { return k.address(W, i); };
  s.bAddress = [=](KernelEmitter& k, llvm::Value* i) { return k.address(GY, i); };
  s.aLayout = GemmSpec::AlongMN;
  s.bLayout = GemmSpec::AlongMN, s.bBatchStride = d.O * N, s.c = id;
  s.a = [=](KernelEmitter& k, llvm::Value*, llvm::Value* m, llvm::Value* o) {
    return k.load(W, k.b().CreateAdd(k.b().CreateMul(o, k.c64(M)), m));
  };
  s.b = [=](KernelEmitter& k, llvm::Value* n, llvm::Value* o, llvm::Value* col) {
    return k.load(GY, k.linear({n, o, col}, {d.O * N, N, 1}));
  };
  s.indexOf = [](KernelEmitter&, llvm::Value* n, llvm::Value* m, llvm::Value* col) { return std::vector<llvm::Value*>{n, m, col}; };
  s.finishBatch = [=](KernelEmitter& k, llvm::Value* n, llvm::Value* cols) {
    llvm::IRBuilder<>& b = k.b();
    llvm::Type* t = k.valueType(dtype);
    llvm::Value* base = b.CreateMul(n, k.c64(d.C * d.H * d.W));
    k.loop(d.C * d.H * d.W, [&](llvm::Value* i) { k.store(id, b.CreateAdd(base, i), llvm::ConstantFP::get(t, 0.0)); });
    k.loopNest({d.C, d.KH, d.KW}, [&](const std::vector<llvm::Value*>& ckk) {
      llvm::Value* row = k.linear(ckk, {d.KH * d.KW, d.KW, 1});
      auto [ohLo, ohHi] = validRange(k, d.OH, d.sh, ckk[1], d.ph, d.H);
      auto [owLo, owHi] = validRange(k, d.OW, d.sw, ckk[2], d.pw, d.W);
      k.loop(ohLo, ohHi, [&](llvm::Value* oh) {
        llvm::Value* h = b.CreateSub(b.CreateAdd(b.CreateMul(oh, k.c64(d.sh)), ckk[1]), k.c64(d.ph));
        k.loop(owLo, owHi, [&](llvm::Value* ow) {
          llvm::Value* w = b.CreateSub(b.CreateAdd(b.CreateMul(ow, k.c64(d.sw)), ckk[2]), k.c64(d.pw));
          llvm::Value* dst = b.CreateAdd(base, k.linear({ckk[0], h, w}, {d.H * d.W, d.W, 1}));
          llvm::Value* v = b.CreateLoad(t, b.CreateInBoundsGEP(t, cols, k.linear({row, oh, ow}, {N, d.OW, 1})));
          k.store(id, dst, b.CreateFAdd(k.load(id, dst), v));
        });
      });
    });
  };
  return s;
}

/// Fills rows [rowBegin, rowEnd) of `cols` (in scratch) with the im2col of sample n of X, laid out
/// [(c, kh, kw), (oh, ow)]: each row a copy of X through one window offset, zero where the window leaves X;
/// contiguous runs along ow.
void im2colRows(KernelEmitter& k, NodeId X, const ConvDims d, llvm::Value* cols, llvm::Value* n, llvm::Value* rowBegin,
                llvm::Value* rowEnd) {
  llvm::IRBuilder<>& b = k.b();
  llvm::Type* t = k.valueType(k.graph()[X].type.dtype);
  llvm::Value* zero = llvm::ConstantFP::get(t, 0.0);
  int64_t P = d.OH * d.OW;
  k.loop(rowBegin, rowEnd, [&](llvm::Value* r) {  // row r = (c, kh, kw)
    std::vector<llvm::Value*> ckk{udiv(k, r, d.KH * d.KW), urem(k, udiv(k, r, d.KW), d.KH), urem(k, r, d.KW)};
    llvm::Value* rowStart = b.CreateMul(r, k.c64(P));
    auto [owLo, owHi] = validRange(k, d.OW, d.sw, ckk[2], d.pw, d.W);
    k.loop(k.c64(0), k.c64(d.OH), [&](llvm::Value* oh) {
      llvm::Value* dst = b.CreateAdd(rowStart, b.CreateMul(oh, k.c64(d.OW)));
      llvm::Value* h = b.CreateSub(b.CreateAdd(b.CreateMul(oh, k.c64(d.sh)), ckk[1]), k.c64(d.ph));
      llvm::Value* rowInside = inRange(k, h, d.H);
      llvm::Value* lo = b.CreateSelect(rowInside, owLo, k.c64(d.OW)), *hi = b.CreateSelect(rowInside, owHi, k.c64(d.OW));
      auto put = [&](llvm::Value* ow, llvm::Value* v) { b.CreateStore(v, b.CreateInBoundsGEP(t, cols, b.CreateAdd(dst, ow))); };
      k.loop(k.c64(0), lo, [&](llvm::Value* ow) { put(ow, zero); });
      k.loop(lo, hi, [&](llvm::Value* ow) {
        llvm::Value* w = b.CreateSub(b.CreateAdd(b.CreateMul(ow, k.c64(d.sw)), ckk[2]), k.c64(d.pw));
        put(ow, k.load(X, k.linear({n, ckk[0], h, w}, {d.C * d.H * d.W, d.H * d.W, d.W, 1})));
      });
      k.loop(b.CreateSelect(b.CreateICmpSGT(hi, lo), hi, lo), k.c64(d.OW), [&](llvm::Value* ow) { put(ow, zero); });
    }, true);
  }, true);  // rolled: fully unrolled, a 5x5 window over 24 rows is thousands of copies
}

/// conv2d_grad_weight as a GEMM per sample, the samples' products summed into dW: dW[o, (c, kh, kw)] +=
/// gY[n][o, (oh, ow)] x cols[(c, kh, kw), (oh, ow)]^T, where cols is sample n's im2col, filled into scratch
/// (in L2) as its batch starts. Both operands are plain and contiguous along K. With groups, each run of
/// samples sums into its own partial dW (the engine's runs).
int64_t convGradWeight(KernelEmitter& k, NodeId id, const ConvDims d) {
  const Graph& g = k.graph();
  NodeId X = g[id].inputs[0], GY = g[id].inputs[1];
  GemmSpec s = gemmSpecFor(g, id);  // sum over samples of O x C*KH*KW x OH*OW
  int64_t P = s.K, CKK = s.N;
  llvm::Type* t = k.valueType(s.dtype);
  llvm::Value* cols = k.scratch(CKK * P * dtypeSize(s.dtype));
  s.c = id;
  s.aLayout = GemmSpec::AlongK, s.bLayout = GemmSpec::AlongK;
  s.aBatchStride = d.O * P;
  s.aAddress = [=](KernelEmitter& k, llvm::Value* i) { return k.address(GY, i); };
  s.bAddress = [=](KernelEmitter& k, llvm::Value* i) { return k.b().CreateInBoundsGEP(t, cols, i); };
  // op(B)'s columns are im2col's rows: a block of them needs only those rows.
  s.startBatch = [=](KernelEmitter& k, llvm::Value* n, llvm::Value* lo, llvm::Value* hi) { im2colRows(k, X, d, cols, n, lo, hi); };
  s.a = [=](KernelEmitter& k, llvm::Value* n, llvm::Value* o, llvm::Value* kk) {
    return k.load(GY, k.linear({n, o, kk}, {d.O * P, P, 1}));
  };
  s.b = [=](KernelEmitter& k, llvm::Value*, llvm::Value* kk, llvm::Value* col) {
    return k.b().CreateLoad(t, k.b().CreateInBoundsGEP(t, cols, k.linear({col, kk}, {P, 1})));
  };
  s.indexOf = [=](KernelEmitter& k, llvm::Value*, llvm::Value* o, llvm::Value* col) {
    llvm::Value* r = urem(k, col, d.KH * d.KW);
    return std::vector<llvm::Value*>{o, udiv(k, col, d.KH * d.KW), udiv(k, r, d.KW), urem(k, r, d.KW)};
  };
  return lowerGemm(k, s);
}

/// A matmul node as a GEMM: op(A) and op(B) read through their transposes, batch dims flattened.
GemmSpec matmulSpec(const Graph& g, NodeId id, const Epilogue* epi) {
  const Node& n = g[id];
  const MatmulAttrs a = std::get<MatmulAttrs>(n.attrs);
  const Shape& out = n.type.shape;
  Shape batchShape(out.begin(), out.end() - 2);
  GemmSpec s = gemmSpecFor(g, id);
  int64_t M = s.M, N = s.N, K = s.K;
  NodeId A = n.inputs[0], B = n.inputs[1];
  s.aAddress = [=](KernelEmitter& k, llvm::Value* i) { return k.address(A, i); };
  s.bAddress = [=](KernelEmitter& k, llvm::Value* i) { return k.address(B, i); };
  s.c = epi ? epi->target : id;
  s.aLayout = a.transpose_a ? GemmSpec::AlongMN : GemmSpec::AlongK;
  s.bLayout = a.transpose_b ? GemmSpec::AlongK : GemmSpec::AlongMN;
  s.aBatchStride = M * K, s.bBatchStride = K * N;
  s.a = [=](KernelEmitter& k, llvm::Value* bi, llvm::Value* m, llvm::Value* kk) {
    llvm::IRBuilder<>& b = k.b();
    llvm::Value* inner = a.transpose_a ? b.CreateAdd(b.CreateMul(kk, k.c64(M)), m) : b.CreateAdd(b.CreateMul(m, k.c64(K)), kk);
    return k.load(A, b.CreateAdd(b.CreateMul(bi, k.c64(M * K)), inner));
  };
  s.b = [=](KernelEmitter& k, llvm::Value* bi, llvm::Value* kk, llvm::Value* col) {
    llvm::IRBuilder<>& b = k.b();
    llvm::Value* inner = a.transpose_b ? b.CreateAdd(b.CreateMul(col, k.c64(K)), kk) : b.CreateAdd(b.CreateMul(kk, k.c64(N)), col);
    return k.load(B, b.CreateAdd(b.CreateMul(bi, k.c64(K * N)), inner));
  };
  s.indexOf = [=](KernelEmitter& k, llvm::Value* bi, llvm::Value* row, llvm::Value* col) {
    std::vector<llvm::Value*> idx;  // batch dims of bi, then row, col
    llvm::Value* rest = bi;
    for (size_t d = batchShape.size(); d-- > 0;) {
      idx.insert(idx.begin(), k.b().CreateSRem(rest, k.c64(batchShape[d])));
      rest = k.b().CreateSDiv(rest, k.c64(batchShape[d]));
    }
    idx.push_back(row);
    idx.push_back(col);
    return idx;
  };
  return s;
}

}  // namespace

int64_t lowerMatmul(KernelEmitter& k, NodeId id, const Epilogue* epi) {
  GemmSpec spec = matmulSpec(k.graph(), id, epi);
  return lowerGemm(k, spec, epi);
}

int64_t lowerConv(KernelEmitter& k, NodeId id, const Epilogue* epi) {
  const Graph& g = k.graph();
  ConvDims d = convDims(g, g[id]);
  if (g[id].op == Op::Conv2dGradInput) return lowerGemm(k, convGradInput(g, id, d));
  if (g[id].op == Op::Conv2dGradWeight) return convGradWeight(k, id, d);
  return lowerGemm(k, convForward(k, id, d, epi), epi);
}

/// max_pool2d_grad when the windows tile the input without overlap or padding (stride = kernel): each input
/// element belongs to at most one window, so it is written once, gy at its window's first maximum and zero
/// elsewhere -- no accumulation, and the loop over ow vectorises.
int64_t lowerMaxPoolGradTiled(KernelEmitter& k, NodeId id) {
  const Node& n = k.graph()[id];
  auto& a = std::get<PoolAttrs>(n.attrs);
  NodeId X = n.inputs[0], GY = n.inputs[1];
  const Shape& xs = n.type.shape;
  const Shape& ys = k.graph()[GY].type.shape;
  int64_t H = xs[2], W = xs[3], KH = a.kernel[0], KW = a.kernel[1];
  llvm::IRBuilder<>& b = k.b();
  llvm::Type* t = k.valueType(n.type.dtype);
  llvm::Value* zero = llvm::ConstantFP::get(t, 0.0);
  if (H != ys[2] * KH || W != ys[3] * KW)  // rows or columns no window covers
    k.loop(n.type.numel(), [&](llvm::Value* i) { k.store(id, i, zero); });
  k.loopNest({ys[0], ys[1], ys[2]}, [&](const std::vector<llvm::Value*>& o) {
    llvm::Value* plane = k.linear({o[0], o[1]}, {xs[1] * H * W, H * W});
    k.loop(ys[3], [&](llvm::Value* ow) {
      std::vector<llvm::Value*> at;  // the window's elements, row-major
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
          llvm::Value* h = b.CreateAdd(b.CreateMul(o[2], k.c64(KH)), k.c64(kh));
          llvm::Value* w = b.CreateAdd(b.CreateMul(ow, k.c64(KW)), k.c64(kw));
          at.push_back(b.CreateAdd(plane, k.linear({h, w}, {W, 1})));
        }
      llvm::Value* cur = k.load(X, at[0]);
      llvm::Value* best = b.getInt32(0);
      for (size_t j = 1; j < at.size(); ++j) {  // the first maximum wins; NaN beats any number
        llvm::Value* v = k.load(X, at[j]);
        llvm::Value* take = b.CreateOr(b.CreateFCmpOGT(v, cur), b.CreateAnd(b.CreateFCmpUNO(v, v), b.CreateFCmpORD(cur, cur)));
        cur = b.CreateSelect(take, v, cur);
        best = b.CreateSelect(take, b.getInt32(uint32_t(j)), best);
      }
      llvm::Value* g = k.load(GY, k.linear({o[0], o[1], o[2], ow}, stridesOf(ys)));
      for (size_t j = 0; j < at.size(); ++j)
        k.store(id, at[j], b.CreateSelect(b.CreateICmpEQ(best, b.getInt32(uint32_t(j))), g, zero));
    });
  }, true);
  return 1;
}

namespace {

/// The lanes of `parts` (vectors of one type) side by side, as one vector of their total width.
llvm::Value* concatLanes(llvm::IRBuilder<>& b, std::vector<llvm::Value*> parts) {
  while (parts.size() > 1) {
    std::vector<llvm::Value*> next;
    for (size_t i = 0; i < parts.size(); i += 2) {
      llvm::Value* a = parts[i];
      unsigned n = unsigned(llvm::cast<llvm::FixedVectorType>(a->getType())->getNumElements());
      llvm::Value* c = i + 1 < parts.size() ? parts[i + 1] : llvm::Constant::getNullValue(a->getType());
      std::vector<int> all(2 * n);
      for (unsigned l = 0; l < 2 * n; ++l) all[l] = int(l);
      next.push_back(b.CreateShuffleVector(a, c, all));
    }
    parts = next;
  }
  return parts[0];
}

}  // namespace

/// Lane by lane, the maximum of the vectors `cand` and the index of the first one holding it (NaN beats any
/// number, as in the interpreter), as an i32 vector.
std::pair<llvm::Value*, llvm::Value*> firstMaximum(llvm::IRBuilder<>& b, const std::vector<llvm::Value*>& cand) {
  unsigned vl = unsigned(llvm::cast<llvm::FixedVectorType>(cand[0]->getType())->getNumElements());
  llvm::Value* cur = cand[0];
  llvm::Value* best = llvm::ConstantInt::get(llvm::FixedVectorType::get(b.getInt32Ty(), vl), 0);
  for (size_t j = 1; j < cand.size(); ++j) {
    llvm::Value* v = cand[j];
    llvm::Value* take = b.CreateOr(b.CreateFCmpOGT(v, cur), b.CreateAnd(b.CreateFCmpUNO(v, v), b.CreateFCmpORD(cur, cur)));
    cur = b.CreateSelect(take, v, cur);
    best = b.CreateSelect(take, llvm::ConstantInt::get(best->getType(), uint64_t(j)), best);
  }
  return {cur, best};
}

/// One window row of VL windows, read from `rowBase` as KW vectors under `masks` (zero where masked off)
/// and split into KW vectors, one per window column: lane l of column kw is element l * KW + kw.
std::vector<llvm::Value*> loadWindowRow(KernelEmitter& k, NodeId x, llvm::Value* rowBase, const std::vector<llvm::Value*>& masks,
                                        llvm::FixedVectorType* vt, llvm::Align align) {
  llvm::IRBuilder<>& b = k.b();
  int64_t KW = int64_t(masks.size()), vl = int64_t(vt->getNumElements());
  std::vector<llvm::Value*> raw, columns;
  for (int64_t q = 0; q < KW; ++q)
    raw.push_back(b.CreateMaskedLoad(vt, k.address(x, b.CreateAdd(rowBase, k.c64(q * vl))), align, masks[size_t(q)],
                                     llvm::ConstantFP::get(vt, 0.0)));
  llvm::Value* wide = concatLanes(b, raw);
  for (int64_t kw = 0; kw < KW; ++kw) {
    std::vector<int> pick;
    for (int64_t l = 0; l < vl; ++l) pick.push_back(int(l * KW + kw));
    columns.push_back(b.CreateShuffleVector(wide, pick));
  }
  return columns;
}

/// Stores one window row of VL windows: `cols[kw]` holds window column kw of each window; in memory the
/// row is window after window (lane l, column kw at l * KW + kw), written as KW vectors under `masks`.
void storeWindowRow(KernelEmitter& k, NodeId id, llvm::Value* rowBase, const std::vector<llvm::Value*>& cols,
                    const std::vector<llvm::Value*>& masks, llvm::Align align) {
  llvm::IRBuilder<>& b = k.b();
  int64_t KW = int64_t(cols.size());
  int64_t vl = int64_t(llvm::cast<llvm::FixedVectorType>(cols[0]->getType())->getNumElements());
  llvm::Value* wide = concatLanes(b, cols);  // lanes kw * VL + l
  for (int64_t q = 0; q < KW; ++q) {
    std::vector<int> pick;
    for (int64_t i = q * vl; i < (q + 1) * vl; ++i) pick.push_back(int((i % KW) * vl + i / KW));
    b.CreateMaskedStore(b.CreateShuffleVector(wide, pick), k.address(id, b.CreateAdd(rowBase, k.c64(q * vl))), align,
                        masks[size_t(q)]);
  }
}

/// The pooling ops when the windows tile the input (stride = kernel, no padding), VL windows of a row at a
/// time: each window row's KW * VL inputs are read as KW vectors and split by shuffles into KW vectors of
/// one window column each; max_pool2d finds the maximum (the first one, NaN beating any number) lane by
/// lane, avg_pool2d sums them in row-major order; the gradients are written back through the inverse
/// shuffle: max's zero off each window's maximum, avg's the window's share everywhere.
int64_t lowerPoolTiledVector(KernelEmitter& k, NodeId id, int64_t vl) {
  const Graph& g = k.graph();
  const Node& n = g[id];
  llvm::IRBuilder<>& b = k.b();
  auto& a = std::get<PoolAttrs>(n.attrs);
  bool grad = n.op == Op::MaxPool2dGrad || n.op == Op::AvgPool2dGrad, avg = n.op == Op::AvgPool2d || n.op == Op::AvgPool2dGrad;
  NodeId X = n.inputs[0];  // the input (avg_pool2d_grad reads none)
  NodeId Y = n.op == Op::MaxPool2dGrad ? n.inputs[1] : n.op == Op::AvgPool2dGrad ? n.inputs[0] : id;  // the pooled side
  const Shape& xs = grad ? n.type.shape : g[X].type.shape;
  const Shape& ys = g[Y].type.shape;
  int64_t H = xs[2], W = xs[3], OH = ys[2], OW = ys[3], KH = a.kernel[0], KW = a.kernel[1];
  auto* vt = llvm::FixedVectorType::get(k.valueType(n.type.dtype), unsigned(vl));
  llvm::Align align(dtypeSize(n.type.dtype));
  llvm::Value* zero = llvm::ConstantFP::get(vt, 0.0);
  llvm::Value* lane = b.CreateStepVector(llvm::FixedVectorType::get(b.getInt64Ty(), unsigned(vl)));
  auto below = [&](llvm::Value* limit, int64_t first) {  // lanes first + l < limit
    return b.CreateICmpSLT(b.CreateAdd(lane, b.CreateVectorSplat(unsigned(vl), k.c64(first))), b.CreateVectorSplat(unsigned(vl), limit));
  };
  // The outer loop (the kernel's range) runs over the N x C planes, each independent of the others.
  k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* plane) {
    if (grad && (H != OH * KH || W != OW * KW))  // rows or columns no window covers
      k.loop(H * W, [&](llvm::Value* i) { k.store(id, b.CreateAdd(b.CreateMul(plane, k.c64(H * W)), i), k.constant(n.type.dtype, 0.0)); });
    k.loop(k.c64(0), k.c64(OH), [&](llvm::Value* oh) {
      std::vector<llvm::Value*> po{plane, oh};
      k.loop(k.c64(0), k.c64((OW + vl - 1) / vl), [&](llvm::Value* chunk) {
        llvm::Value* ow0 = b.CreateMul(chunk, k.c64(vl));
        llvm::Value* left = b.CreateSub(k.c64(OW), ow0);             // windows left in the row
        llvm::Value* inputsLeft = b.CreateMul(left, k.c64(KW));      // their inputs along the row
        std::vector<llvm::Value*> rowMasks;                            // the row's KW vectors: inputs in range
        for (int64_t q = 0; q < KW; ++q) rowMasks.push_back(below(inputsLeft, q * vl));
        std::vector<llvm::Value*> cand;                                // per window element (kh, kw): VL lanes
        std::vector<llvm::Value*> rowBase;
        for (int64_t kh = 0; kh < KH; ++kh) {
          llvm::Value* h = b.CreateAdd(b.CreateMul(po[1], k.c64(KH)), k.c64(kh));
          llvm::Value* base = b.CreateAdd(k.linear({po[0], h}, {H * W, W}), b.CreateMul(ow0, k.c64(KW)));
          rowBase.push_back(base);
          if (n.op == Op::AvgPool2dGrad) continue;
          for (llvm::Value* column : loadWindowRow(k, X, base, rowMasks, vt, align)) cand.push_back(column);
        }
        llvm::Value* out = b.CreateAdd(k.linear(po, {OH * OW, OW}), ow0);
        llvm::Value* windows = below(left, 0);
        llvm::Value* area = llvm::ConstantFP::get(vt, double(KH * KW));
        if (!grad) {
          llvm::Value* sum = zero;  // avg: 0 + the window's elements in row-major order, over the area (as the interpreter)
          for (size_t c = 0; avg && c < cand.size(); ++c) sum = b.CreateFAdd(sum, cand[c]);
          b.CreateMaskedStore(avg ? b.CreateFDiv(sum, area) : firstMaximum(b, cand).first, k.address(id, out), align, windows);
          return;
        }
        llvm::Value* gy = b.CreateMaskedLoad(vt, k.address(Y, out), align, windows, zero);
        llvm::Value* share = avg ? b.CreateFAdd(zero, b.CreateFDiv(gy, area)) : nullptr;  // 0 + gy / area, as the interpreter
        llvm::Value* best = avg ? nullptr : firstMaximum(b, cand).second;
        for (int64_t kh = 0; kh < KH; ++kh) {
          std::vector<llvm::Value*> cols;  // window column kw of each lane: max's gy where it is the maximum, avg's share
          for (int64_t kw = 0; kw < KW; ++kw)
            cols.push_back(avg ? share : b.CreateSelect(b.CreateICmpEQ(best, llvm::ConstantInt::get(best->getType(), uint64_t(kh * KW + kw))), gy, zero));
          storeWindowRow(k, id, rowBase[size_t(kh)], cols, rowMasks, align);
        }
      }, true);
    }, true);
  });
  return ys[0] * ys[1];
}

int64_t lowerPool(KernelEmitter& k, NodeId id) {
  const Node& n = k.graph()[id];
  auto& a = std::get<PoolAttrs>(n.attrs);
  bool tiled = a.stride == a.kernel && a.padding == std::vector<int64_t>{0, 0};
  if (tiled && a.kernel[0] * a.kernel[1] <= 16)
    return lowerPoolTiledVector(k, id, hostLanes(n.type.dtype));
  if (n.op == Op::MaxPool2dGrad && tiled) return lowerMaxPoolGradTiled(k, id);
  bool isGrad = n.op == Op::MaxPool2dGrad || n.op == Op::AvgPool2dGrad;
  bool isMax = n.op == Op::MaxPool2d || n.op == Op::MaxPool2dGrad;
  const Shape& xs = isGrad ? n.type.shape : k.graph()[n.inputs[0]].type.shape;
  NodeId gy = isGrad ? n.inputs[isMax ? 1 : 0] : id;  // the pooled side
  const Shape& ys = k.graph()[gy].type.shape;
  int64_t H = xs[2], W = xs[3];
  llvm::IRBuilder<>& b = k.b();
  llvm::Type* t = k.valueType(n.type.dtype);
  llvm::Value* acc = k.local(t);
  llvm::Value* best = k.local(b.getInt64Ty());
  double area = double(a.kernel[0] * a.kernel[1]);
  if (isGrad) k.loop(n.type.numel(), [&](llvm::Value* i) { k.store(id, i, llvm::ConstantFP::get(t, 0.0)); });
  k.loopNest(ys, [&](const std::vector<llvm::Value*>& o) {
    llvm::Value* yi = k.linear(o, stridesOf(ys));
    llvm::Value* plane = k.linear({o[0], o[1]}, {xs[1] * H * W, H * W});
    b.CreateStore(llvm::ConstantFP::get(t, isMax ? -std::numeric_limits<double>::infinity() : 0.0), acc);
    b.CreateStore(k.c64(-1), best);
    llvm::Value* share = isGrad && !isMax ? b.CreateFDiv(k.load(gy, yi), llvm::ConstantFP::get(t, area)) : nullptr;
    for (int64_t kh = 0; kh < a.kernel[0]; ++kh)
      for (int64_t kw = 0; kw < a.kernel[1]; ++kw) {
        llvm::Value* h = b.CreateAdd(b.CreateMul(o[2], k.c64(a.stride[0])), k.c64(kh - a.padding[0]));
        llvm::Value* w = b.CreateAdd(b.CreateMul(o[3], k.c64(a.stride[1])), k.c64(kw - a.padding[1]));
        llvm::Value* inside = b.CreateAnd(b.CreateAnd(b.CreateICmpSGE(h, k.c64(0)), b.CreateICmpSLT(h, k.c64(H))),
                                          b.CreateAnd(b.CreateICmpSGE(w, k.c64(0)), b.CreateICmpSLT(w, k.c64(W))));
        llvm::Value* xi = b.CreateSelect(inside, b.CreateAdd(plane, k.linear({h, w}, {W, 1})), k.c64(0));
        if (isGrad && !isMax) {
          k.store(id, xi, b.CreateFAdd(k.load(id, xi), b.CreateSelect(inside, share, llvm::ConstantFP::get(t, 0.0))));
          continue;
        }
        llvm::Value* v = k.load(isGrad ? n.inputs[0] : n.inputs[0], xi);
        llvm::Value* cur = b.CreateLoad(t, acc);
        if (!isMax) {
          b.CreateStore(b.CreateFAdd(cur, b.CreateSelect(inside, v, llvm::ConstantFP::get(t, 0.0))), acc);
          continue;
        }
        // The first maximum in row-major order wins; NaN beats any number (as the interpreter).
        llvm::Value* none = b.CreateICmpSLT(b.CreateLoad(b.getInt64Ty(), best), k.c64(0));
        llvm::Value* better = b.CreateOr(b.CreateFCmpOGT(v, cur), b.CreateAnd(b.CreateFCmpUNO(v, v), b.CreateFCmpORD(cur, cur)));
        llvm::Value* take = b.CreateAnd(inside, b.CreateOr(none, better));
        b.CreateStore(b.CreateSelect(take, v, cur), acc);
        b.CreateStore(b.CreateSelect(take, xi, b.CreateLoad(b.getInt64Ty(), best)), best);
      }
    if (n.op == Op::MaxPool2d) k.store(id, yi, b.CreateLoad(t, acc));
    if (n.op == Op::AvgPool2d) k.store(id, yi, b.CreateFDiv(b.CreateLoad(t, acc), llvm::ConstantFP::get(t, area)));
    if (n.op == Op::MaxPool2dGrad) {
      llvm::Value* at = b.CreateLoad(b.getInt64Ty(), best);
      llvm::Value* has = b.CreateICmpSGE(at, k.c64(0));
      llvm::Value* safe = b.CreateSelect(has, at, k.c64(0));
      llvm::Value* add = b.CreateSelect(has, k.load(gy, yi), llvm::ConstantFP::get(t, 0.0));
      k.store(id, safe, b.CreateFAdd(k.load(id, safe), add));
    }
  });
  return 1;
}

}  // namespace kiln
