// Element-wise scalar semantics for the JIT (each op on register values, used by every fused kernel) and the iota kernel.
#include <llvm/IR/Intrinsics.h>

#include "compiler/Lowering.h"
#include "compiler/Transcendental.h"
#include "ir/Error.h"

namespace kiln {

namespace {

using llvm::Intrinsic::ID;

llvm::Value* unary(KernelEmitter& k, Op op, llvm::Value* x) {
  llvm::IRBuilder<>& b = k.b();
  llvm::Type* t = x->getType();
  bool fp = t->isFPOrFPVectorTy();
  switch (unaryOp(op)) {
    case UnaryOp::Neg: return fp ? b.CreateFNeg(x) : b.CreateSub(llvm::Constant::getNullValue(t), x);
    case UnaryOp::Abs: {
      llvm::Value* zero = llvm::Constant::getNullValue(t);
      return fp ? k.intrinsic(llvm::Intrinsic::fabs, t, {x}) : b.CreateSelect(b.CreateICmpSLT(x, zero), b.CreateSub(zero, x), x);
    }
    case UnaryOp::Exp: case UnaryOp::Log: case UnaryOp::Tanh: case UnaryOp::Sigmoid: case UnaryOp::Erf:
      return emitTranscendental(k, op, x);
    case UnaryOp::Sqrt: return k.intrinsic(llvm::Intrinsic::sqrt, t, {x});
    case UnaryOp::Rsqrt: return b.CreateFDiv(llvm::ConstantFP::get(t, 1.0), k.intrinsic(llvm::Intrinsic::sqrt, t, {x}));
    case UnaryOp::Sin: return k.intrinsic(llvm::Intrinsic::sin, t, {x});
    case UnaryOp::Cos: return k.intrinsic(llvm::Intrinsic::cos, t, {x});
  }
  KILN_ASSERT(false, "unknown unary op");
}

/// i32 division: truncating, wrapping INT_MIN / -1 to INT_MIN, and failing on division by zero.
llvm::Value* intDiv(KernelEmitter& k, llvm::Value* a, llvm::Value* d) {
  llvm::IRBuilder<>& b = k.b();
  llvm::Value* zero = b.CreateICmpEQ(d, b.getInt32(0));
  llvm::Value* minusOne = b.CreateICmpEQ(d, b.getInt32(-1));
  k.failIf(zero, kKernelDivisionByZero);
  llvm::Value* safe = b.CreateSelect(b.CreateOr(zero, minusOne), b.getInt32(1), d);
  return b.CreateSelect(minusOne, b.CreateSub(b.getInt32(0), a), b.CreateSDiv(a, safe));
}

/// Philox2x32-10's word 0 for i32 counters (a, c), scalar or vector: as philox2x32 in ir/Scalar.h.
llvm::Value* philox(llvm::IRBuilder<>& b, llvm::Value* c0, llvm::Value* c1) {
  llvm::Type* t = c0->getType();
  llvm::Type* wide = t->getWithNewBitWidth(64);
  llvm::Value* m = llvm::ConstantInt::get(wide, 0xD256D193u);
  for (uint32_t round = 0, key = 0; round < 10; ++round, key += 0x9E3779B9u) {
    llvm::Value* p = b.CreateMul(b.CreateZExt(c0, wide), m);
    llvm::Value* hi = b.CreateTrunc(b.CreateLShr(p, llvm::ConstantInt::get(wide, 32)), t);
    c0 = b.CreateXor(b.CreateXor(hi, llvm::ConstantInt::get(t, key)), c1);
    c1 = b.CreateTrunc(p, t);
  }
  return c0;
}

llvm::Value* binary(KernelEmitter& k, Op op, llvm::Value* a, llvm::Value* c) {
  llvm::IRBuilder<>& b = k.b();
  llvm::Type* t = a->getType();
  bool fp = t->isFPOrFPVectorTy();
  switch (binaryOp(op)) {
    case BinaryOp::Add: return fp ? b.CreateFAdd(a, c) : b.CreateAdd(a, c);
    case BinaryOp::Sub: return fp ? b.CreateFSub(a, c) : b.CreateSub(a, c);
    case BinaryOp::Mul: return fp ? b.CreateFMul(a, c) : b.CreateMul(a, c);
    case BinaryOp::Div: return fp ? b.CreateFDiv(a, c) : intDiv(k, a, c);
    case BinaryOp::Max: return k.intrinsic(fp ? llvm::Intrinsic::maximum : llvm::Intrinsic::smax, t, {a, c});
    case BinaryOp::Min: return k.intrinsic(fp ? llvm::Intrinsic::minimum : llvm::Intrinsic::smin, t, {a, c});
    case BinaryOp::Pow: return k.intrinsic(llvm::Intrinsic::pow, t, {a, c});
    case BinaryOp::Philox: return philox(b, a, c);
  }
  KILN_ASSERT(false, "unknown binary op");
}

llvm::Value* compare(KernelEmitter& k, Op op, llvm::Value* a, llvm::Value* c) {
  llvm::IRBuilder<>& b = k.b();
  using P = llvm::CmpInst::Predicate;
  bool fp = a->getType()->isFPOrFPVectorTy(), flag = a->getType()->getScalarType()->isIntegerTy(1);
  P p = P::FCMP_OEQ;
  switch (compareOp(op)) {  // NaN compares false, except ne
    case CompareOp::Eq: p = fp ? P::FCMP_OEQ : P::ICMP_EQ; break;
    case CompareOp::Ne: p = fp ? P::FCMP_UNE : P::ICMP_NE; break;
    case CompareOp::Lt: p = fp ? P::FCMP_OLT : flag ? P::ICMP_ULT : P::ICMP_SLT; break;
    case CompareOp::Le: p = fp ? P::FCMP_OLE : flag ? P::ICMP_ULE : P::ICMP_SLE; break;
    case CompareOp::Gt: p = fp ? P::FCMP_OGT : flag ? P::ICMP_UGT : P::ICMP_SGT; break;
    case CompareOp::Ge: p = fp ? P::FCMP_OGE : flag ? P::ICMP_UGE : P::ICMP_SGE; break;
  }
  return fp ? b.CreateFCmp(p, a, c) : b.CreateICmp(p, a, c);
}

/// Casts between dtypes; a float that is NaN or outside i32 fails the kernel.
llvm::Value* castValue(KernelEmitter& k, llvm::Value* x, DType from, DType to) {
  llvm::IRBuilder<>& b = k.b();
  llvm::Type* dst = k.valueType(to);
  if (auto* v = llvm::dyn_cast<llvm::VectorType>(x->getType())) dst = llvm::VectorType::get(dst, v);  // lane by lane
  if (from == to) return x;
  if (to == DType::Bool)
    return isFloat(from) ? b.CreateFCmpUNE(x, llvm::ConstantFP::get(x->getType(), 0.0))
                         : b.CreateICmpNE(x, llvm::ConstantInt::get(x->getType(), 0));
  if (from == DType::Bool) return isFloat(to) ? b.CreateUIToFP(x, dst) : b.CreateZExt(x, dst);
  if (isFloat(from) && isFloat(to)) return b.CreateFPCast(x, dst);
  if (from == DType::I32) return b.CreateSIToFP(x, dst);
  // float -> i32: in range means -2^31 - 1 < x < 2^31 (f32 has no values strictly between -2^31 - 1 and -2^31)
  llvm::Type* ft = x->getType();
  double lo = from == DType::F32 ? -2147483648.0 : -2147483649.0;
  llvm::Value* ok = b.CreateAnd(from == DType::F32 ? b.CreateFCmpOGE(x, llvm::ConstantFP::get(ft, lo))
                                                   : b.CreateFCmpOGT(x, llvm::ConstantFP::get(ft, lo)),
                                b.CreateFCmpOLT(x, llvm::ConstantFP::get(ft, 2147483648.0)));
  k.failIf(b.CreateNot(ok), kKernelCastOutOfRange);
  return b.CreateFPToSI(b.CreateSelect(ok, x, llvm::ConstantFP::get(ft, 0.0)), dst);
}

}  // namespace

llvm::Value* emitElementwiseOp(KernelEmitter& k, const Node& n, const std::vector<llvm::Value*>& a) {
  switch (opInfo(n.op).cls) {
    case OpClass::Unary: return unary(k, n.op, a[0]);
    case OpClass::Binary: return binary(k, n.op, a[0], a[1]);
    case OpClass::Compare: return compare(k, n.op, a[0], a[1]);
    case OpClass::Select: return k.b().CreateSelect(a[0], a[1], a[2]);
    case OpClass::Cast: return castValue(k, a[0], k.graph()[n.inputs[0]].type.dtype, n.type.dtype);
    case OpClass::Leaf: case OpClass::Movement: case OpClass::Reduction: case OpClass::Contraction:
    case OpClass::Window: case OpClass::Index: break;
  }
  KILN_ASSERT(false, "not an element-wise op");
}

bool emitsOnVectors(const Graph& g, const Node& n) {
  DType in = n.inputs.empty() ? n.type.dtype : g[n.inputs[0]].type.dtype;
  if (n.op == Op::Div) return isFloat(n.type.dtype);                           // i32: fails on a zero divisor
  if (n.op == Op::Cast) return !isFloat(in) || n.type.dtype != DType::I32;     // fails on NaN and out of range
  if (n.op == Op::Tanh || n.op == Op::Erf) return in != DType::F64;            // f64: libm's scalars
  return true;
}

int64_t lowerIota(KernelEmitter& k, NodeId id) {
  const Node& n = k.graph()[id];
  size_t axis = size_t(std::get<AxisAttrs>(n.attrs).axis);
  int64_t stride = stridesOf(n.type.shape)[axis], dim = n.type.shape[axis];
  llvm::IRBuilder<>& b = k.b();
  k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* i) {
    llvm::Value* v = b.CreateSRem(b.CreateSDiv(i, k.c64(stride)), k.c64(dim));
    llvm::Type* t = k.valueType(n.type.dtype);
    k.store(id, i, isFloat(n.type.dtype) ? b.CreateSIToFP(v, t) : b.CreateTrunc(v, t));
  });
  return n.type.numel();
}

}  // namespace kiln
