// The conv2d family and the poolings (matmul runs on the GEMM engine, compiler/Gemm.cpp).
#include <limits>

#include <llvm/IR/Intrinsics.h>

#include "compiler/Lowering.h"
#include "ir/Error.h"

namespace kiln {

namespace {

/// With reassociation allowed for the duration of `body`, so that a reduction loop vectorises, and
/// multiply-adds contracted into FMAs.
void reassociating(llvm::IRBuilder<>& b, const std::function<void()>& body) {
  llvm::FastMathFlags fmf;
  fmf.setAllowReassoc();
  fmf.setNoSignedZeros();
  fmf.setAllowContract();
  b.setFastMathFlags(fmf);
  body();
  b.clearFastMathFlags();
}

/// With multiply-adds contracted into FMAs (one rounding instead of two) for the duration of `body`.
void contracting(llvm::IRBuilder<>& b, const std::function<void()>& body) {
  llvm::FastMathFlags fmf;
  fmf.setAllowContract();
  b.setFastMathFlags(fmf);
  body();
  b.clearFastMathFlags();
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

}  // namespace


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
  if (n.op == Op::Conv2dGradWeight) x = g[n.inputs[0]].type.shape, w = n.type.shape, y = g[n.inputs[1]].type.shape;
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], a.stride[0], a.stride[1], a.padding[0], a.padding[1]};
}

}  // namespace

namespace {

/// conv2d and its gradients share one loop nest: n, o, c, then the window position (kh, kw), then the
/// output positions (oh, ow) that the window position keeps inside the input; ow innermost and contiguous.
struct ConvLowering {
  using Range = std::pair<llvm::Value*, llvm::Value*>;
  KernelEmitter& k;
  NodeId id;
  const Epilogue* epi;
  const Node& n = k.graph()[id];
  ConvDims d = convDims(k.graph(), n);
  llvm::IRBuilder<>& b = k.b();
  llvm::Type* t = k.valueType(n.type.dtype);
  NodeId X = n.op == Op::Conv2dGradInput ? id : n.inputs[0];
  NodeId Wt = n.op == Op::Conv2dGradWeight ? id : n.inputs[1];
  NodeId Y = n.op == Op::Conv2d ? id : n.inputs[n.op == Op::Conv2dGradInput ? 0 : 1];
  llvm::Value* zero = llvm::ConstantFP::get(t, 0.0);

  llvm::Value* xAt(llvm::Value* nn, llvm::Value* c, llvm::Value* kh, llvm::Value* kw, llvm::Value* oh, llvm::Value* ow) {
    llvm::Value* h = b.CreateAdd(b.CreateMul(oh, k.c64(d.sh)), b.CreateSub(kh, k.c64(d.ph)));
    llvm::Value* w = b.CreateAdd(b.CreateMul(ow, k.c64(d.sw)), b.CreateSub(kw, k.c64(d.pw)));
    return k.linear({nn, c, h, w}, {d.C * d.H * d.W, d.H * d.W, d.W, 1});
  }
  llvm::Value* yAt(llvm::Value* nn, llvm::Value* o, llvm::Value* oh, llvm::Value* ow) {
    return k.linear({nn, o, oh, ow}, {d.O * d.OH * d.OW, d.OH * d.OW, d.OW, 1});
  }
  llvm::Value* wAt(llvm::Value* o, llvm::Value* c, llvm::Value* kh, llvm::Value* kw) {
    return k.linear({o, c, kh, kw}, {d.C * d.KH * d.KW, d.KH * d.KW, d.KW, 1});
  }
  /// f(kh, kw, valid oh range, valid ow range) for every window position.
  void window(const std::function<void(llvm::Value*, llvm::Value*, Range, Range)>& f) {
    k.loop(d.KH, [&](llvm::Value* kh) {
      Range hr = validRange(k, d.OH, d.sh, kh, d.ph, d.H);
      k.loop(d.KW, [&](llvm::Value* kw) { f(kh, kw, hr, validRange(k, d.OW, d.sw, kw, d.pw, d.W)); });
    });
  }

  /// dw[o,c,kh,kw] = sum over n, oh, ow of gy * x; the outer loop runs over o.
  int64_t gradWeight() {
    llvm::Value* acc = k.local(t);
    k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* o) {
      k.loop(d.C, [&](llvm::Value* c) {
        window([&](llvm::Value* kh, llvm::Value* kw, Range hr, Range wr) {
          b.CreateStore(zero, acc);
          k.loop(d.N, [&](llvm::Value* nn) {
            k.loop(hr.first, hr.second, [&](llvm::Value* oh) {
              reassociating(b, [&] {
                k.loop(wr.first, wr.second, [&](llvm::Value* ow) {
                  llvm::Value* p = b.CreateFMul(k.load(Y, yAt(nn, o, oh, ow)), k.load(X, xAt(nn, c, kh, kw, oh, ow)));
                  b.CreateStore(b.CreateFAdd(b.CreateLoad(t, acc), p), acc);
                });
              });
            });
          });
          k.store(id, wAt(o, c, kh, kw), b.CreateLoad(t, acc));
        });
      });
    });
    return d.O;
  }

  /// y += w * x (conv2d) or dx += w * gy (conv2d_grad_input) for sample nn, whose outputs start at `base`.
  void accumulateSample(llvm::Value* nn, NodeId target, bool forward) {
    k.loop(d.O, [&](llvm::Value* o) {
      k.loop(d.C, [&](llvm::Value* c) {
        window([&](llvm::Value* kh, llvm::Value* kw, Range hr, Range wr) {
          llvm::Value* wv = k.load(Wt, wAt(o, c, kh, kw));
          k.loop(hr.first, hr.second, [&](llvm::Value* oh) {
            contracting(b, [&] {
              k.loop(wr.first, wr.second, [&](llvm::Value* ow) {
                llvm::Value* yi = yAt(nn, o, oh, ow);
                llvm::Value* xi = xAt(nn, c, kh, kw, oh, ow);
                llvm::Value* dst = forward ? yi : xi;
                llvm::Value* src = forward ? k.load(X, xi) : k.load(Y, yi);
                k.store(target, dst, b.CreateFAdd(k.load(target, dst), b.CreateFMul(wv, src)));
              });
            });
          });
        });
      });
    });
  }

  /// conv2d and conv2d_grad_input: the outer loop runs over samples.
  int64_t perSample() {
    bool forward = n.op == Op::Conv2d;
    NodeId target = epi ? epi->target : id;  // where the sums accumulate
    int64_t size = forward ? d.O * d.OH * d.OW : d.C * d.H * d.W;
    k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* nn) {
      llvm::Value* base = b.CreateMul(nn, k.c64(size));
      k.loop(size, [&](llvm::Value* i) { k.store(target, b.CreateAdd(base, i), zero); });
      accumulateSample(nn, target, forward);
      if (epi)  // the sample is summed: apply the epilogue to each of its outputs
        k.loopNest({d.O, d.OH, d.OW}, [&](const std::vector<llvm::Value*>& o) {
          llvm::Value* flat = b.CreateAdd(base, k.linear(o, {d.OH * d.OW, d.OW, 1}));
          epi->apply(k.load(target, flat), flat, {nn, o[0], o[1], o[2]});
        });
    });
    return d.N;
  }
};

}  // namespace

int64_t lowerConv(KernelEmitter& k, NodeId id, const Epilogue* epi) {
  ConvLowering c{k, id, epi};
  return c.n.op == Op::Conv2dGradWeight ? c.gradWeight() : c.perSample();
}

int64_t lowerPool(KernelEmitter& k, NodeId id) {
  const Node& n = k.graph()[id];
  auto& a = std::get<PoolAttrs>(n.attrs);
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
