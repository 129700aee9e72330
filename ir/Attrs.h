// Typed node attributes: one small struct per attribute shape, held in a std::variant.
// Each struct lists its fields once (KILN_FIELDS), and the printer, parser, JSON and equality read that list,
// so a new attribute struct needs no code in any of them. Field types: int64_t, bool, double, std::string,
// std::vector<int64_t>, std::vector<double>, Init and Count.
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
/// The inverse of initName; nullopt for an unknown name.
std::optional<Init> parseInit(std::string_view name);

/// A count that is 1 unless a pass says otherwise (the groups of a split reduction): written only when it
/// is not 1, and 1 when absent, so graphs that never use it read and print as before.
struct Count {
  int64_t n = 1;  ///< >= 1 (the verifier checks the op's own bound)
  /// Equal counts.
  bool operator==(const Count&) const = default;
};

/// The first of the rows of run g when `rows` rows are split into `groups` runs (ReduceAttrs::groups).
inline int64_t groupBegin(int64_t g, int64_t rows, int64_t groups) { return g * rows / groups; }
/// The run that row r falls in: the g with groupBegin(g) <= r < groupBegin(g + 1).
inline int64_t groupOf(int64_t r, int64_t rows, int64_t groups) { return ((r + 1) * groups - 1) / rows; }

/// The weight's shape [O, C, KH, KW] of a conv2d_grad_weight whose result has shape `result`: the result
/// itself, or with groups (ConvAttrs::groups) the result without its leading axis of runs.
inline std::vector<int64_t> convWeightShape(const std::vector<int64_t>& result, int64_t groups) {
  return groups > 1 ? std::vector<int64_t>(result.begin() + 1, result.end()) : result;
}

/// For ops without attributes.
struct NoAttrs {
  KILN_FIELDS((void)f)
  /// Always equal.
  bool operator==(const NoAttrs&) const = default;
};
/// `input {name="x"}`: a value fed from outside at every run.
struct InputAttrs {
  std::string name;  ///< the name the caller feeds it by; unique among the graph's leaves
  KILN_FIELDS(f("name", name))
  /// Field-wise equality, as for every attribute struct.
  bool operator==(const InputAttrs&) const = default;
};
/// `parameter {name="fc1.weight", init=uniform, scale=0.0357}`: trained state with its initialiser.
struct ParamAttrs {
  std::string name;         ///< unique among the graph's leaves; checkpoints store the value by it
  Init init = Init::Zeros;  ///< how the value starts
  double scale = 0;         ///< the initialiser's scale or gain (see Init); unused by zeros and ones
  KILN_FIELDS(f("name", name); f("init", init); f("scale", scale))
  /// Field-wise equality.
  bool operator==(const ParamAttrs&) const = default;
};
/// `constant {values=[0.5]}`: one value (splat over the shape) or one per element, row-major.
struct ConstAttrs {
  std::vector<double> values;  ///< 1 or numel values; i32 values whole and in range, bool values 0 or 1
  KILN_FIELDS(f("values", values))
  /// Field-wise equality.
  bool operator==(const ConstAttrs&) const = default;
};
/// An axis: iota counts along it, concat joins along it.
struct AxisAttrs {
  int64_t axis = 0;  ///< in [0, rank) of the result (iota) or of the operands (concat)
  KILN_FIELDS(f("axis", axis))
  /// Field-wise equality.
  bool operator==(const AxisAttrs&) const = default;
};
/// permute: output dim i is input dim perm[i].
struct PermuteAttrs {
  std::vector<int64_t> perm;  ///< a permutation of 0 .. rank-1
  KILN_FIELDS(f("perm", perm))
  /// Field-wise equality.
  bool operator==(const PermuteAttrs&) const = default;
};
/// slice: [start, stop) on every axis.
struct SliceAttrs {
  std::vector<int64_t> start, stop;  ///< one per axis, 0 <= start <= stop <= dim (no steps, no negatives)
  KILN_FIELDS(f("start", start); f("stop", stop))
  /// Field-wise equality.
  bool operator==(const SliceAttrs&) const = default;
};
/// pad: lo and hi elements of `value` before and after each axis.
struct PadAttrs {
  std::vector<int64_t> lo, hi;  ///< elements added before and after, one per axis, each >= 0
  double value = 0;             ///< the fill; must fit the dtype as a constant's values must
  KILN_FIELDS(f("lo", lo); f("hi", hi); f("value", value))
  /// Field-wise equality.
  bool operator==(const PadAttrs&) const = default;
};
/// reduce_sum / reduce_max over `axes`; keepdims keeps them as size 1.
struct ReduceAttrs {
  std::vector<int64_t> axes;  ///< distinct axes in [0, rank) (the DSL normalises and sorts them)
  bool keepdims = false;      ///< keep the reduced axes as size 1 rather than drop them
  /// With groups G > 1 (axis 0 reduced, G <= its extent N), axis 0 is reduced in G runs of rows, run g
  /// being rows [g*N/G, (g+1)*N/G) (rounded down), and the result keeps axis 0 at size G in front: the
  /// per-chunk partials of a two-phase reduction (passes/SplitReductions.cpp), which a reduce_sum over
  /// axis 0 combines in order.
  Count groups;
  KILN_FIELDS(f("axes", axes); f("keepdims", keepdims); f("groups", groups))
  /// Field-wise equality.
  bool operator==(const ReduceAttrs&) const = default;
};
/// matmul: transpose the last two dims of an operand before multiplying.
struct MatmulAttrs {
  bool transpose_a = false, transpose_b = false;  ///< a is [...,K,M] / b is [...,N,K] when set
  KILN_FIELDS(f("transpose_a", transpose_a); f("transpose_b", transpose_b))
  /// Field-wise equality.
  bool operator==(const MatmulAttrs&) const = default;
};
/// conv2d: stride and zero padding per spatial dim (h, w).
struct ConvAttrs {
  std::vector<int64_t> stride{1, 1}, padding{0, 0};  ///< (h, w) each; stride >= 1, padding >= 0
  /// conv2d_grad_weight only: with groups G > 1, the samples are summed in G runs as a reduction's groups
  /// are, and the result is [G, O, C, KH, KW], one partial weight gradient per run.
  Count groups;
  KILN_FIELDS(f("stride", stride); f("padding", padding); f("groups", groups))
  /// Field-wise equality.
  bool operator==(const ConvAttrs&) const = default;
};
/// max_pool2d / avg_pool2d and their gradients: window, stride and padding per spatial dim. max_pool2d
/// ignores padded positions; avg_pool2d counts them as zeros (PyTorch's defaults).
struct PoolAttrs {
  std::vector<int64_t> kernel{2, 2}, stride{2, 2}, padding{0, 0};  ///< (h, w) each; padding < kernel
  KILN_FIELDS(f("kernel", kernel); f("stride", stride); f("padding", padding))
  /// Field-wise equality.
  bool operator==(const PoolAttrs&) const = default;
};

/// The attributes of a node; which alternative an op takes is declared in ir/Ops.def.
using Attrs = std::variant<NoAttrs, InputAttrs, ParamAttrs, ConstAttrs, AxisAttrs, PermuteAttrs, SliceAttrs,
                           PadAttrs, ReduceAttrs, MatmulAttrs, ConvAttrs, PoolAttrs>;

}  // namespace kiln
