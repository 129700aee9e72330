// Layers with their parameters, initialised as PyTorch initialises the same modules, so that kiln's models
// match the PyTorch baselines they are compared against.
#pragma once

#include <string>

#include "ir/Builder.h"

namespace kiln {

/// nn.Linear(in, out): weight [out, in] and bias [out], both U(-1/sqrt(in), 1/sqrt(in)).
struct LinearLayer {
  Value weight, bias;  ///< the parameters NAME.weight and NAME.bias
  /// x[..., in] -> [..., out].
  Value operator()(Value x, Site site = Site::current()) const { return linear(x, weight, bias, site); }
};
/// Declares the parameters `name`.weight and `name`.bias of a Linear(in, out) in `b`.
LinearLayer makeLinear(Builder& b, const std::string& name, int64_t in, int64_t out);

/// nn.Embedding(rows, width): weight [rows, width], N(0, stddev) (PyTorch's stddev is 1; GPT-2's 0.02).
struct EmbeddingLayer {
  Value weight;  ///< the parameter NAME.weight
  /// The rows at i32 `indices` [...]: [..., width].
  Value operator()(Value indices, Site site = Site::current()) const { return gather(weight, indices, site); }
};
/// Declares the parameter `name`.weight of an Embedding(rows, width) in `b`.
EmbeddingLayer makeEmbedding(Builder& b, const std::string& name, int64_t rows, int64_t width, double stddev = 1.0);

/// nn.Conv2d(in, out, k): weight [out, in, k, k] and bias [out], both U(-1/sqrt(in*k*k), ...).
struct Conv2dLayer {
  Value weight, bias;               ///< the parameters NAME.weight and NAME.bias
  int64_t stride = 1, padding = 0;  ///< the same along h and w
  /// conv2d(x [N,in,H,W]) plus the bias per output channel: [N,out,OH,OW].
  Value operator()(Value x, Site site = Site::current()) const;
};
/// Declares the parameters `name`.weight and `name`.bias of a Conv2d(in, out, kernel) in `b`.
Conv2dLayer makeConv2d(Builder& b, const std::string& name, int64_t in, int64_t out, int64_t kernel,
                       int64_t stride = 1, int64_t padding = 0);

}  // namespace kiln
