// PyTorch-compatible layer parameters.
#include "models/Layers.h"

#include <cmath>

namespace kiln {

LinearLayer makeLinear(Builder& b, const std::string& name, int64_t in, int64_t out) {
  double bound = 1.0 / std::sqrt(double(in));
  return {b.parameter(name + ".weight", {out, in}, Init::Uniform, bound),
          b.parameter(name + ".bias", {out}, Init::Uniform, bound)};
}

EmbeddingLayer makeEmbedding(Builder& b, const std::string& name, int64_t rows, int64_t width, double stddev) {
  return {b.parameter(name + ".weight", {rows, width}, Init::Normal, stddev)};
}

Conv2dLayer makeConv2d(Builder& b, const std::string& name, int64_t in, int64_t out, int64_t kernel,
                       int64_t stride, int64_t padding) {
  double bound = 1.0 / std::sqrt(double(in * kernel * kernel));
  return {b.parameter(name + ".weight", {out, in, kernel, kernel}, Init::Uniform, bound),
          b.parameter(name + ".bias", {out}, Init::Uniform, bound), stride, padding};
}

Value Conv2dLayer::operator()(Value x, Site site) const {
  Value y = conv2d(x, weight, {stride, stride}, {padding, padding}, site);
  return y + reshape(bias, {bias.dim(0), 1, 1}, site);
}

}  // namespace kiln
