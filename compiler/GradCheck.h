// Gradient checks: autodiff's gradients, evaluated by the interpreter in f64, against central finite
// differences of the loss in f64.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "compiler/HostTensor.h"
#include "ir/Graph.h"

namespace kiln {

/// One checked case.
struct GradCheckResult {
  std::string name;          ///< the case's name, as given
  int64_t elements = 0;      ///< gradient elements compared
  double maxRelError = 0;    ///< max |autodiff - fd| / max(|autodiff|, |fd|, 1e-3)
  std::string worst;         ///< "leaf[index]: autodiff A, finite difference F"
  bool pass = false;         ///< some element compared, and maxRelError <= kGradCheckTolerance
};

/// The tolerance every case must meet.
inline constexpr double kGradCheckTolerance = 1e-6;

/// Checks d loss / d leaf for every parameter of `g` (whose output `loss` is a float scalar) at the point
/// `values` (every input and parameter). The step is 1e-5 * max(1, |x|).
GradCheckResult gradCheck(const std::string& name, const Graph& g, const TensorMap& values,
                          const std::string& loss = "loss");

/// A case of the sweep: a graph with parameters as the differentiated operands and its values.
struct GradCheckCase {
  std::string name;  ///< the op or composite it covers, with its variant (e.g. a stride or padding)
  /// Builds the graph and its values (the same every call).
  std::function<std::pair<Graph, TensorMap>()> make;
};

/// Every differentiable op of the table, conv2d and both poolings with stride and padding, and the
/// composites (softmax, log-softmax, layernorm, gelu, attention, cross-entropy, mse, linear, relu), each
/// at inputs away from kinks and ties.
const std::vector<GradCheckCase>& gradCheckCases();

}  // namespace kiln
