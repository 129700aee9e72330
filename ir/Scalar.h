// Scalar semantics of the element-wise ops, in double precision: the reference that the interpreter,
// constant folding and the tests share. Integer ops see whole numbers held exactly in a double.
#pragma once

#include <cmath>

#include "ir/Error.h"
#include "ir/Ops.h"
#include "ir/Types.h"

namespace kiln {

/// y = op(x) for a unary op.
inline double applyUnary(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return std::fabs(x);
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return 1.0 / std::sqrt(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Sigmoid: return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
    case UnaryOp::Erf: return std::erf(x);
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
  }
  KILN_ASSERT(false, "unknown unary op");
}

/// Philox2x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) with key 0: word 0
/// of the output for the counter (c0, c1). Ten rounds of a 32x32->64 multiply, the key bumped by the
/// golden ratio between rounds.
inline uint32_t philox2x32(uint32_t c0, uint32_t c1) {
  uint32_t key = 0;
  for (int round = 0; round < 10; ++round) {
    uint64_t p = uint64_t(0xD256D193u) * c0;
    c0 = uint32_t(p >> 32) ^ key ^ c1;
    c1 = uint32_t(p);
    key += 0x9E3779B9u;
  }
  return c0;
}

/// y = op(a, b) for a binary arithmetic op. Integer division truncates toward zero (the caller rejects
/// division by zero). max and min propagate NaN, as PyTorch's maximum and minimum do. philox takes and
/// gives i32 values (its operands' bits as unsigned counters).
inline double applyBinary(BinaryOp op, double a, double b, DType dtype) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return dtype == DType::I32 ? std::trunc(a / b) : a / b;
    case BinaryOp::Max: return std::isnan(a) || std::isnan(b) ? NAN : (a > b ? a : b);
    case BinaryOp::Min: return std::isnan(a) || std::isnan(b) ? NAN : (a < b ? a : b);
    case BinaryOp::Pow: return std::pow(a, b);
    case BinaryOp::Philox: return double(int32_t(philox2x32(uint32_t(int32_t(a)), uint32_t(int32_t(b)))));
  }
  KILN_ASSERT(false, "unknown binary op");
}

/// op(a, b) for a comparison; comparisons with NaN are false except ne.
inline bool applyCompare(CompareOp op, double a, double b) {
  switch (op) {
    case CompareOp::Eq: return a == b;
    case CompareOp::Ne: return a != b;
    case CompareOp::Lt: return a < b;
    case CompareOp::Le: return a <= b;
    case CompareOp::Gt: return a > b;
    case CompareOp::Ge: return a >= b;
  }
  KILN_ASSERT(false, "unknown comparison");
}

/// applyUnary for an Op of class Unary.
inline double applyUnary(Op op, double x) { return applyUnary(unaryOp(op), x); }
/// applyBinary for an Op of class Binary.
inline double applyBinary(Op op, double a, double b, DType dtype) { return applyBinary(binaryOp(op), a, b, dtype); }
/// applyCompare for an Op of class Compare.
inline bool applyCompare(Op op, double a, double b) { return applyCompare(compareOp(op), a, b); }

/// The value an element of dtype `t` holds after storing `v`: f32 rounds, i32 wraps to 32 bits.
inline double roundTo(DType t, double v) {
  switch (t) {
    case DType::F32: return double(float(v));
    case DType::F64: return v;
    case DType::I32: return double(int32_t(uint32_t(int64_t(v))));
    case DType::Bool: return v != 0 ? 1.0 : 0.0;
  }
  return v;
}

}  // namespace kiln
