// Typed node attributes: one small struct per attribute shape, held in a std::variant.
// Each struct lists its fields once (KILN_FIELDS), and the printer, parser, JSON and equality read that list,
// so a new attribute struct needs no code in any of them. Field types: int64_t, bool, double, std::string,
// std::vector<int64_t>, std::vector<double> and Init.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kiln {

/// Declares the field list of an attribute struct, for both const and mutable visitors.
#define KILN_FIELDS(...)                                  \
  template <class F> void fields(F&& f) { __VA_ARGS__; }  \
  template <class F> void fields(F&& f) const { __VA_ARGS__; }

/// How a parameter is initialised. Fans follow PyTorch: fan_in = shape[1] * receptive field, fan_out =
/// shape[0] * receptive field, where the receptive field is the product of dims 2.. (1 for a matrix).
enum class Init : uint8_t {
  Zeros,          ///< 0
  Ones,           ///< 1
  Normal,         ///< N(0, scale^2)
  Uniform,        ///< U(-scale, scale)
  HeUniform,      ///< U(-b, b), b = scale * sqrt(6 / fan_in)   (scale is the gain, 1 by default)
  HeNormal,       ///< N(0, (scale * sqrt(2 / fan_in))^2)
  XavierUniform,  ///< U(-b, b), b = scale * sqrt(6 / (fan_in + fan_out))
  XavierNormal,   ///< N(0, (scale * sqrt(2 / (fan_in + fan_out)))^2)
};
/// "zeros", "he_uniform", ...
std::string_view initName(Init i);
std::optional<Init> parseInit(std::string_view name);

/// For ops without attributes.
struct NoAttrs {
  KILN_FIELDS((void)f)
  bool operator==(const NoAttrs&) const = default;
};
/// `input {name="x"}`: a value fed from outside at every run.
struct InputAttrs {
  std::string name;
  KILN_FIELDS(f("name", name))
  bool operator==(const InputAttrs&) const = default;
};
/// `parameter {name="fc1.weight", init=uniform, scale=0.0357}`: trained state with its initialiser.
struct ParamAttrs {
  std::string name;
  Init init = Init::Zeros;
  double scale = 0;
  KILN_FIELDS(f("name", name); f("init", init); f("scale", scale))
  bool operator==(const ParamAttrs&) const = default;
};
/// `constant {values=[0.5]}`: one value (splat over the shape) or one per element, row-major.
struct ConstAttrs {
  std::vector<double> values;
  KILN_FIELDS(f("values", values))
  bool operator==(const ConstAttrs&) const = default;
};
/// An axis: iota counts along it, concat joins along it.
struct AxisAttrs {
  int64_t axis = 0;
  KILN_FIELDS(f("axis", axis))
  bool operator==(const AxisAttrs&) const = default;
};
/// permute: output dim i is input dim perm[i].
struct PermuteAttrs {
  std::vector<int64_t> perm;
  KILN_FIELDS(f("perm", perm))
  bool operator==(const PermuteAttrs&) const = default;
};
/// slice: [start, stop) on every axis.
struct SliceAttrs {
  std::vector<int64_t> start, stop;
  KILN_FIELDS(f("start", start); f("stop", stop))
  bool operator==(const SliceAttrs&) const = default;
};
/// pad: lo and hi elements of `value` before and after each axis.
struct PadAttrs {
  std::vector<int64_t> lo, hi;
  double value = 0;
  KILN_FIELDS(f("lo", lo); f("hi", hi); f("value", value))
  bool operator==(const PadAttrs&) const = default;
};
/// reduce_sum / reduce_max over `axes`; keepdims keeps them as size 1.
struct ReduceAttrs {
  std::vector<int64_t> axes;
  bool keepdims = false;
  KILN_FIELDS(f("axes", axes); f("keepdims", keepdims))
  bool operator==(const ReduceAttrs&) const = default;
};
/// matmul: transpose the last two dims of an operand before multiplying.
struct MatmulAttrs {
  bool transpose_a = false, transpose_b = false;
  KILN_FIELDS(f("transpose_a", transpose_a); f("transpose_b", transpose_b))
  bool operator==(const MatmulAttrs&) const = default;
};
/// conv2d: stride and zero padding per spatial dim (h, w).
struct ConvAttrs {
  std::vector<int64_t> stride{1, 1}, padding{0, 0};
  KILN_FIELDS(f("stride", stride); f("padding", padding))
  bool operator==(const ConvAttrs&) const = default;
};
/// max_pool2d / avg_pool2d: window, stride and padding per spatial dim.
struct PoolAttrs {
  std::vector<int64_t> kernel{2, 2}, stride{2, 2}, padding{0, 0};
  KILN_FIELDS(f("kernel", kernel); f("stride", stride); f("padding", padding))
  bool operator==(const PoolAttrs&) const = default;
};

/// The attributes of a node; which alternative an op takes is declared in ir/Ops.def.
using Attrs = std::variant<NoAttrs, InputAttrs, ParamAttrs, ConstAttrs, AxisAttrs, PermuteAttrs, SliceAttrs,
                           PadAttrs, ReduceAttrs, MatmulAttrs, ConvAttrs, PoolAttrs>;

}  // namespace kiln
