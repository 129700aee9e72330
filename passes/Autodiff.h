// autodiff: appends the backward graph of a scalar loss, built from ordinary ops.
#pragma once

#include <string>
#include <vector>

#include "ir/Graph.h"

namespace kiln {

/// What to differentiate.
struct AutodiffOptions {
  std::string loss = "loss";      ///< the output to differentiate: a scalar f32 or f64
  std::vector<std::string> wrt;   ///< leaves to differentiate against; empty means every parameter
};

/// The name of the output holding the gradient of leaf `name`.
std::string gradOutputName(const std::string& name);

/// Appends to a copy of `g` the nodes computing d loss / d leaf for every leaf in `opts.wrt`, and an output
/// `grad/NAME` for each. Each backward node records the forward node whose rule made it (Node::origin).
/// Gradients of a value with several users are summed; a leaf the loss does not depend on gets zeros.
/// Precondition: `g` verifies and has the loss output. Throws Error when the loss is not a float scalar, a
/// leaf is unknown or not float, or the loss depends on a leaf only through non-differentiable ops (the
/// message names the op and the path from the loss).
Graph autodiff(const Graph& g, const AutodiffOptions& opts = {});

}  // namespace kiln
