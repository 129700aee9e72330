// optimizer: turns the gradients that autodiff output into parameter updates, as ordinary ops.
#pragma once

#include <cstdint>
#include <string>

#include "ir/Graph.h"

namespace kiln {

/// An optimizer and its hyper-parameters (PyTorch's meanings and defaults).
struct OptimizerOptions {
  std::string kind = "sgd";  ///< sgd, sgd-momentum, sgd-nesterov, adam, adamw
  double lr = 0.01;                        ///< learning rate; warmup-cosine's peak
  double momentum = 0.9;                   ///< sgd-momentum, sgd-nesterov
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  ///< adam, adamw
  double weightDecay = 0;                  ///< L2 added to the gradient; decoupled for adamw
  double clipNorm = 0;                     ///< clip gradients to this global L2 norm; 0 = off
  std::string schedule = "constant";       ///< constant, warmup-cosine
  int64_t warmupSteps = 0, totalSteps = 0; ///< warmup-cosine: linear warm-up, then cosine to minLr
  double minLr = 0;                        ///< warmup-cosine: the rate from totalSteps on
};

/// Fills kind-specific defaults that differ from the struct's (adamw: weight decay 0.01), and checks the
/// values; throws Error naming a bad one.
OptimizerOptions checkedOptimizerOptions(OptimizerOptions o, bool weightDecayGiven);

/// Replaces every `grad/NAME` output of `g` (made by autodiff) with the update of parameter NAME:
/// an output `NAME` that aliases the parameter, and for each optimizer state leaf (`NAME.momentum`,
/// `NAME.exp_avg`, `NAME.exp_avg_sq`) an output aliasing it. A step counter `optimizer.step` (i32 state,
/// aliased and incremented) drives the schedule and Adam's bias correction; an output `lr` holds the
/// step's learning rate. Update nodes record their parameter as origin. Precondition: `g` has grad/NAME
/// outputs for parameters. Throws Error when it has none.
Graph addOptimizer(const Graph& g, const OptimizerOptions& opts);

}  // namespace kiln
