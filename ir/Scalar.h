// Scalar semantics of the element-wise ops, in double precision: the reference that the interpreter,
// constant folding and the tests share. Integer ops see whole numbers held exactly in a double.
#pragma once

#include <cmath>

#include "ir/Error.h"
#include "ir/Ops.h"
#include "ir/Types.h"

namespace kiln {

/// y = op(x) for a unary op.
inline double applyUnary(Op op, double x) {
  switch (op) {
    case Op::Neg: return -x;
    case Op::Abs: return std::fabs(x);
    case Op::Exp: return std::exp(x);
    case Op::Log: return std::log(x);
    case Op::Sqrt: return std::sqrt(x);
    case Op::Rsqrt: return 1.0 / std::sqrt(x);
    case Op::Tanh: return std::tanh(x);
    case Op::Sigmoid: return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
    case Op::Erf: return std::erf(x);
    case Op::Sin: return std::sin(x);
    case Op::Cos: return std::cos(x);
    default: KILN_ASSERT(false, "applyUnary of a non-unary op");
  }
}

/// y = op(a, b) for a binary arithmetic op. Integer division truncates toward zero (the caller rejects
/// division by zero). max and min propagate NaN, as PyTorch's maximum and minimum do.
inline double applyBinary(Op op, double a, double b, DType dtype) {
  switch (op) {
    case Op::Add: return a + b;
    case Op::Sub: return a - b;
    case Op::Mul: return a * b;
    case Op::Div: return dtype == DType::I32 ? std::trunc(a / b) : a / b;
    case Op::Max: return std::isnan(a) || std::isnan(b) ? NAN : (a > b ? a : b);
    case Op::Min: return std::isnan(a) || std::isnan(b) ? NAN : (a < b ? a : b);
    case Op::Pow: return std::pow(a, b);
    default: KILN_ASSERT(false, "applyBinary of a non-binary op");
  }
}

/// op(a, b) for a comparison; comparisons with NaN are false except ne.
inline bool applyCompare(Op op, double a, double b) {
  switch (op) {
    case Op::Eq: return a == b;
    case Op::Ne: return a != b;
    case Op::Lt: return a < b;
    case Op::Le: return a <= b;
    case Op::Gt: return a > b;
    case Op::Ge: return a >= b;
    default: KILN_ASSERT(false, "applyCompare of a non-comparison op");
  }
}

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
