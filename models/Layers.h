// Layers with their parameters, initialised as PyTorch initialises the same modules, so that kiln's models
// match the PyTorch baselines they are compared against.
#pragma once

#include <string>

#include "ir/Builder.h"

namespace kiln {

/// nn.Linear(in, out): weight [out, in] and bias [out], both U(-1/sqrt(in), 1/sqrt(in)).
struct LinearLayer {
  Value weight, bias;
  Value operator()(Value x, Site site = Site::current()) const { return linear(x, weight, bias, site); }
};
LinearLayer makeLinear(Builder& b, const std::string& name, int64_t in, int64_t out);

/// nn.Conv2d(in, out, k): weight [out, in, k, k] and bias [out], both U(-1/sqrt(in*k*k), ...).
struct Conv2dLayer {
  Value weight, bias;
  int64_t stride = 1, padding = 0;
  Value operator()(Value x, Site site = Site::current()) const;
};
Conv2dLayer makeConv2d(Builder& b, const std::string& name, int64_t in, int64_t out, int64_t kernel,
                       int64_t stride = 1, int64_t padding = 0);

}  // namespace kiln
