// exp, log, tanh, erf and sigmoid for f32 as polynomial IR, so that they vectorise at full width instead of
// calling libm. Coefficients come from scripts/fit_transcendentals.py. Error bounds against libm in f64,
// measured by tests/TranscendentalTest.cpp on 300,000 f32 inputs per function (a dense sweep, every power of
// two, random bit patterns, ±0, ±inf, NaN, denormals); measured worst in brackets:
//   exp      relative error <= 1.5e-7 [8.3e-8]; denormal results within 1 unit of 2^-149 [0.84];
//            +inf from 88.73 up, 0 below -103.98
//   log      relative error <= 1.5e-7 [7.7e-8], absolute <= 1.5e-10 where |log x| < 1e-3;
//            log(±0) = -inf, log(x < 0) = NaN, log(inf) = inf, denormal inputs handled
//   tanh     relative error <= 2e-7 [1.3e-7]
//   erf      relative error <= 2.5e-7 [1.7e-7]
//   sigmoid  relative error <= 2.5e-7 [1.8e-7], including denormal results down to x = -103
// NaN in gives NaN out. f64 values use LLVM's intrinsics and libm (exact to about an ulp).
#pragma once

#include <llvm/IR/IRBuilder.h>

#include "ir/Ops.h"

namespace kiln {

/// The kernel emitter (compiler/KernelEmitter.h), declared here rather than included.
class KernelEmitter;

/// op(x) for Exp, Log, Tanh, Erf or Sigmoid; x is f32 or f64, a scalar or a vector (f64 Tanh and Erf: a
/// scalar).
llvm::Value* emitTranscendental(KernelEmitter& k, Op op, llvm::Value* x);

}  // namespace kiln
