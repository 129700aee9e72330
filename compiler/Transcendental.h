// exp, log, tanh, erf and sigmoid for f32 as polynomial IR, so that they vectorise at full width instead of
// calling libm. Coefficients come from scripts/fit_transcendentals.py. Error bounds against libm in f64,
// measured by tests/TranscendentalTest.cpp over the whole f32 range (and ±inf, NaN, denormals):
//   exp      relative error <= 2e-7 (finite results; denormal results <= 1 unit of the smallest denormal);
//            +inf above 88.7228, 0 below -103.98
//   log      relative error <= 2e-7; absolute error <= 1e-7 near x = 1; log(0) = -inf, log(x < 0) = NaN
//   tanh     relative error <= 3e-7
//   erf      relative error <= 3e-7
//   sigmoid  relative error <= 3e-7 (including denormal results for x down to -103)
// NaN in gives NaN out. f64 values use LLVM's intrinsics and libm (exact to about an ulp).
#pragma once

#include <llvm/IR/IRBuilder.h>

#include "ir/Ops.h"

namespace kiln {

class KernelEmitter;

/// op(x) for Exp, Log, Tanh, Erf or Sigmoid; x is f32 or f64.
llvm::Value* emitTranscendental(KernelEmitter& k, Op op, llvm::Value* x);

}  // namespace kiln
