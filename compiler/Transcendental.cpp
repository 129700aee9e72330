// Polynomial exp, log, tanh, erf and sigmoid in LLVM IR.
#include "compiler/Transcendental.h"

#include <cmath>
#include <initializer_list>

#include <llvm/IR/Intrinsics.h>

#include "compiler/KernelEmitter.h"
#include "ir/Error.h"

namespace kiln {

namespace {

/// Fitted by scripts/fit_transcendentals.py.
constexpr float kExp[] = {1.0f, 1.0f, 0.499999911f, 0.166664213f, 0.0416683592f, 0.0083747711f, 0.00138294208f};
constexpr float kLog[] = {-0.499999881f, 0.333333373f,  -0.250015765f, 0.200011745f, -0.166085958f,
                          0.141966864f,  -0.132619947f, 0.128195122f,  -0.0747321099f};
constexpr float kTanh[] = {-0.333332866f, 0.133315131f, -0.0537446626f, 0.0206531417f, -0.00571897905f};
constexpr float kErfSmall[] = {1.12837923f,    -0.376126289f,  0.112836257f, -0.0268553998f,
                               0.00519121811f, -0.000803484407f, 7.9334859e-05f};
constexpr float kErfLarge[] = {0.000114669296f, 0.561885715f, 0.0196039155f, -0.371693611f, 0.218765482f,
                               0.259326607f,    -0.561503887f, 0.456214011f,  -0.187195152f, 0.0320658349f};

/// On f32 scalars or vectors of f32 (a GEMM's epilogue on its register tile): f is the type computed on and
/// i the i32 type of as many lanes.
struct F32 {
  KernelEmitter& k;
  llvm::IRBuilder<>& b;
  llvm::Type* f;
  llvm::Type* i = f->isVectorTy() ? static_cast<llvm::Type*>(llvm::VectorType::get(b.getInt32Ty(), llvm::cast<llvm::VectorType>(f)))
                                  : b.getInt32Ty();

  llvm::Value* c(float v) { return llvm::ConstantFP::get(f, v); }
  llvm::Value* ci(int32_t v) { return llvm::ConstantInt::get(i, uint64_t(uint32_t(v))); }
  llvm::Value* fma(llvm::Value* a, llvm::Value* x, llvm::Value* y) { return k.intrinsic(llvm::Intrinsic::fma, f, {a, x, y}); }
  /// Horner: sum_i coeffs[i] t^i.
  template <size_t N>
  llvm::Value* poly(llvm::Value* t, const float (&coeffs)[N]) {
    llvm::Value* acc = c(coeffs[N - 1]);
    for (size_t i = N - 1; i-- > 0;) acc = fma(acc, t, c(coeffs[i]));
    return acc;
  }
  llvm::Value* sel(llvm::Value* cond, llvm::Value* a, llvm::Value* x) { return b.CreateSelect(cond, a, x); }
  llvm::Value* lt(llvm::Value* a, float v) { return b.CreateFCmpOLT(a, c(v)); }
  llvm::Value* gt(llvm::Value* a, float v) { return b.CreateFCmpOGT(a, c(v)); }
  llvm::Value* fabs(llvm::Value* x) { return k.intrinsic(llvm::Intrinsic::fabs, f, {x}); }
  llvm::Value* copysign(llvm::Value* mag, llvm::Value* sign) { return k.intrinsic(llvm::Intrinsic::copysign, f, {mag, sign}); }
  /// 2^e for an i32 e in the normal range [-126, 127].
  llvm::Value* pow2(llvm::Value* e) {
    return b.CreateBitCast(b.CreateShl(b.CreateAdd(e, ci(127)), ci(23)), f);
  }

  /// exp: x = n ln2 + r with |r| <= ln2/2; exp(r) by polynomial; 2^n applied in two halves so that results
  /// down in the denormals round once. Inputs are clamped to [-104, 89] (0 and inf beyond); NaN passes.
  llvm::Value* exp(llvm::Value* x) {
    llvm::Value* xc = sel(lt(x, -104.0f), c(-104.0f), x);
    xc = sel(gt(xc, 89.0f), c(89.0f), xc);
    llvm::Value* n = k.intrinsic(llvm::Intrinsic::rint, f, {b.CreateFMul(xc, c(1.44269504f))});
    llvm::Value* r = fma(n, c(-0.693359375f), xc);  // ln2 split in a short high part and a correction
    r = fma(n, c(2.12194440e-4f), r);
    llvm::Value* p = poly(r, kExp);
    llvm::Value* ni = b.CreateFPToSI(sel(b.CreateFCmpUNO(n, n), c(0.0f), n), i);
    llvm::Value* n1 = b.CreateAShr(ni, ci(1));
    llvm::Value* n2 = b.CreateSub(ni, n1);
    return b.CreateFMul(b.CreateFMul(p, pow2(n1)), pow2(n2));
  }

  /// log: x = m 2^e with m in [sqrt(1/2), sqrt(2)); log(m) = f + f^2 q(f), f = m - 1; plus e ln2.
  llvm::Value* log(llvm::Value* x) {
    llvm::Value* tiny = lt(x, 1.17549435e-38f);  // denormals: scale into the normal range first
    llvm::Value* xs = sel(tiny, b.CreateFMul(x, c(8388608.0f)), x);
    llvm::Value* bits = b.CreateBitCast(xs, i);
    llvm::Value* e = b.CreateSub(b.CreateLShr(bits, ci(23)), ci(127));
    e = b.CreateSub(e, b.CreateSelect(tiny, ci(23), ci(0)));
    llvm::Value* m = b.CreateBitCast(b.CreateOr(b.CreateAnd(bits, ci(0x007fffff)), ci(0x3f800000)), f);
    llvm::Value* big = gt(m, 1.41421356f);
    m = sel(big, b.CreateFMul(m, c(0.5f)), m);
    e = b.CreateAdd(e, b.CreateZExt(big, i));
    llvm::Value* fr = b.CreateFSub(m, c(1.0f));
    llvm::Value* ef = b.CreateSIToFP(e, f);
    llvm::Value* r = fma(b.CreateFMul(fr, fr), poly(fr, kLog), fr);
    r = fma(ef, c(-2.12194440e-4f), r);
    r = fma(ef, c(0.693359375f), r);
    llvm::Value* inf = c(INFINITY);
    r = sel(b.CreateFCmpOEQ(x, inf), inf, r);
    r = sel(b.CreateFCmpOEQ(x, c(0.0f)), c(-INFINITY), r);
    return sel(b.CreateFCmpULT(x, c(0.0f)), c(NAN), r);  // negative or NaN
  }

  /// tanh: x + x^3 p(x^2) below 0.625, else sign(x) (1 - 2 / (exp(2|x|) + 1)).
  llvm::Value* tanh(llvm::Value* x) {
    llvm::Value* ax = fabs(x);
    llvm::Value* x2 = b.CreateFMul(x, x);
    llvm::Value* small = fma(b.CreateFMul(x2, x), poly(x2, kTanh), x);
    llvm::Value* e = exp(b.CreateFMul(ax, c(2.0f)));
    llvm::Value* large = b.CreateFSub(c(1.0f), b.CreateFDiv(c(2.0f), b.CreateFAdd(e, c(1.0f))));
    return sel(lt(ax, 0.625f), small, copysign(large, x));
  }

  /// erf: x p(x^2) below 1; else sign(x) (1 - exp(-x^2) q(1/|x|)), and ±1 beyond 4.
  llvm::Value* erf(llvm::Value* x) {
    llvm::Value* ax = fabs(x);
    llvm::Value* x2 = b.CreateFMul(x, x);
    llvm::Value* small = b.CreateFMul(x, poly(x2, kErfSmall));
    llvm::Value* q = poly(b.CreateFDiv(c(1.0f), ax), kErfLarge);
    llvm::Value* large = b.CreateFSub(c(1.0f), b.CreateFMul(exp(b.CreateFNeg(x2)), q));
    large = sel(gt(ax, 4.0f), c(1.0f), large);
    return sel(lt(ax, 1.0f), small, copysign(large, x));
  }

  /// sigmoid: with t = exp(-|x|), 1 / (1 + t) for x >= 0 and t / (1 + t) below: no overflow, and small
  /// results keep their relative accuracy.
  llvm::Value* sigmoid(llvm::Value* x) {
    llvm::Value* t = exp(b.CreateFNeg(fabs(x)));
    llvm::Value* s = b.CreateFDiv(c(1.0f), b.CreateFAdd(c(1.0f), t));
    return sel(b.CreateFCmpOLT(x, c(0.0f)), b.CreateFMul(t, s), s);
  }
};

/// f64 (scalars, or vectors but for tanh and erf): LLVM's exp/log intrinsics and libm's tanh and erf.
llvm::Value* emitF64(KernelEmitter& k, Op op, llvm::Value* x) {
  llvm::IRBuilder<>& b = k.b();
  llvm::Type* d = x->getType();
  auto libm = [&](const char* name) {
    KILN_ASSERT(!d->isVectorTy(), "libm's f64 tanh and erf take scalars");
    llvm::FunctionCallee f = k.module().getOrInsertFunction(name, llvm::FunctionType::get(d, {d}, false));
    return b.CreateCall(f, {x});
  };
  switch (op) {
    case Op::Exp: return k.intrinsic(llvm::Intrinsic::exp, d, {x});
    case Op::Log: return k.intrinsic(llvm::Intrinsic::log, d, {x});
    case Op::Tanh: return libm("tanh");
    case Op::Erf: return libm("erf");
    case Op::Sigmoid: {
      llvm::Value* t = k.intrinsic(llvm::Intrinsic::exp, d, {b.CreateFNeg(k.intrinsic(llvm::Intrinsic::fabs, d, {x}))});
      llvm::Value* s = b.CreateFDiv(llvm::ConstantFP::get(d, 1.0), b.CreateFAdd(llvm::ConstantFP::get(d, 1.0), t));
      return b.CreateSelect(b.CreateFCmpOLT(x, llvm::ConstantFP::get(d, 0.0)), b.CreateFMul(t, s), s);
    }
    default: KILN_ASSERT(false, "not a transcendental op");
  }
}

}  // namespace

llvm::Value* emitTranscendental(KernelEmitter& k, Op op, llvm::Value* x) {
  if (x->getType()->getScalarType()->isDoubleTy()) return emitF64(k, op, x);
  F32 e{k, k.b(), x->getType()};
  switch (op) {
    case Op::Exp: return e.exp(x);
    case Op::Log: return e.log(x);
    case Op::Tanh: return e.tanh(x);
    case Op::Erf: return e.erf(x);
    case Op::Sigmoid: return e.sigmoid(x);
    default: KILN_ASSERT(false, "not a transcendental op");
  }
}

}  // namespace kiln
