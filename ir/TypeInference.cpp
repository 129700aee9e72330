// Shape and dtype rules of every op.
#include "ir/TypeInference.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {

namespace {

std::string typesStr(std::span<const Type> in) {
  std::vector<std::string> s;
  for (const Type& t : in) s.push_back(t.str());
  return fmt::format("{}", fmt::join(s, ", "));
}

struct Checker {
  Op op;
  std::span<const Type> in;
  std::string error;

  bool fail(const std::string& msg) {
    if (error.empty())
      error = in.empty() ? fmt::format("{}: {}", opName(op), msg)
                         : fmt::format("{}: {} (operands: {})", opName(op), msg, typesStr(in));
    return false;
  }
  bool floatOperand(size_t i) {
    return isFloat(in[i].dtype) || fail(fmt::format("operand {} must be f32 or f64", i));
  }
  bool numericOperand(size_t i) {
    return in[i].dtype != DType::Bool || fail(fmt::format("operand {} must be numeric, not bool", i));
  }
  bool sameType(size_t i, size_t j) {
    return in[i] == in[j] || fail(fmt::format("operands {} and {} must have one type", i, j));
  }
  bool sameDtype(size_t i, size_t j) {
    return in[i].dtype == in[j].dtype || fail(fmt::format("operands {} and {} must have one dtype", i, j));
  }
  bool rankAtLeast(size_t i, int64_t r) {
    return in[i].rank() >= r || fail(fmt::format("operand {} must have rank >= {}", i, r));
  }
  bool axisOk(int64_t axis, int64_t rank) {
    return (axis >= 0 && axis < rank) || fail(fmt::format("axis {} is out of range for rank {}", axis, rank));
  }
  bool pairOk(const std::vector<int64_t>& v, const char* what, int64_t min) {
    if (v.size() != 2) return fail(fmt::format("{} must have 2 values (h, w)", what));
    if (v[0] < min || v[1] < min) return fail(fmt::format("{} values must be >= {}", what, min));
    return true;
  }
};

Inferred windowType(Checker& c, const Type& x, const PoolAttrs& a) {
  if (!c.rankAtLeast(0, 4) || !c.floatOperand(0)) return {{}, c.error};
  if (x.rank() != 4) return {{}, (c.fail("operand must be NCHW (rank 4)"), c.error)};
  if (!c.pairOk(a.kernel, "kernel", 1) || !c.pairOk(a.stride, "stride", 1) || !c.pairOk(a.padding, "padding", 0))
    return {{}, c.error};
  Shape out = x.shape;
  for (int i = 0; i < 2; ++i) {
    if (a.padding[i] >= a.kernel[i]) return {{}, (c.fail("padding must be smaller than the kernel"), c.error)};
    int64_t span = x.shape[2 + i] + 2 * a.padding[i];
    if (span < a.kernel[i]) return {{}, (c.fail("window is larger than the padded input"), c.error)};
    out[2 + i] = (span - a.kernel[i]) / a.stride[i] + 1;
  }
  return {{x.dtype, out}, ""};
}

/// Why `v` cannot be stored exactly as an element of dtype `t` (empty when it can): an i32 value must be a
/// whole number in i32's range, a bool 0 or 1; f32 and f64 take any number (rounding to nearest, NaN and
/// infinities included). Constants and pad values must be exact, so no engine has a conversion to choose.
std::string unrepresentable(DType t, double v) {
  switch (t) {
    case DType::F32:
    case DType::F64: return "";
    case DType::I32:
      if (!(std::trunc(v) == v && v >= -2147483648.0 && v <= 2147483647.0)) return "is not a whole number in i32's range";
      return "";
    case DType::Bool: return v == 0 || v == 1 ? "" : "is not a bool (0 or 1)";
  }
  return "";
}

using Rule = Inferred (*)(Checker&, const Attrs&, const Type&);

Inferred ok(const Type& t) { return {t, ""}; }
Inferred bad(Checker& c, const std::string& msg) { return {{}, (c.fail(msg), c.error)}; }
Inferred failed(Checker& c) { return {{}, c.error}; }

/// The operand dtype check the op's row asks for (OpFacts::dtypes).
bool dtypeOk(Checker& c, size_t i) {
  switch (opInfo(c.op).facts.dtypes) {
    case OperandDtypes::AnyDtype: return true;
    case OperandDtypes::NumericOnly: return c.numericOperand(i);
    case OperandDtypes::FloatOnly: return c.floatOperand(i);
    case OperandDtypes::IntOnly: return c.in[i].dtype == DType::I32 || c.fail(fmt::format("operand {} must be i32", i));
  }
  return true;
}

/// Why an initialiser's scale is unusable ("" when it is fine): NaN, infinite, negative, or so large that
/// the first step's arithmetic overflows.
std::string badScale(double scale) {
  constexpr double kMaxScale = 1e6;
  if (!std::isfinite(scale) || scale < 0 || scale > kMaxScale)
    return fmt::format("scale {} must be a finite number between 0 and {:g}", scale, kMaxScale);
  return "";
}

Inferred leafType(Checker& c, const Attrs& attrs, const Type& decl) {
  switch (leafOp(c.op)) {
    case LeafOp::Input: return ok(decl);
    case LeafOp::Parameter:
      if (!isFloat(decl.dtype)) return bad(c, "parameters must be f32 or f64");
      if (std::string why = badScale(std::get<ParamAttrs>(attrs).scale); !why.empty()) return bad(c, why);
      return ok(decl);
    case LeafOp::State: {
      if (std::string why = badScale(std::get<ParamAttrs>(attrs).scale); !why.empty()) return bad(c, why);
      Init init = std::get<ParamAttrs>(attrs).init;
      if (decl.dtype == DType::Bool) return bad(c, "state cannot be bool");
      if (!isFloat(decl.dtype) && init != Init::Zeros && init != Init::Ones)
        return bad(c, "integer state must be initialised with zeros or ones");
      return ok(decl);
    }
    case LeafOp::Iota:
      if (decl.dtype == DType::Bool) return bad(c, "iota cannot be bool");
      if (!c.axisOk(std::get<AxisAttrs>(attrs).axis, decl.rank())) return failed(c);
      return ok(decl);
    case LeafOp::Constant: {
      auto& a = std::get<ConstAttrs>(attrs);
      if (a.values.size() != 1 && int64_t(a.values.size()) != decl.numel())
        return bad(c, fmt::format("has {} values; expected 1 or {} for {}", a.values.size(), decl.numel(), decl.str()));
      for (size_t i = 0; i < a.values.size(); ++i)
        if (std::string why = unrepresentable(decl.dtype, a.values[i]); !why.empty())
          return bad(c, fmt::format("value {} ({}) {}", i, a.values[i], why));
      return ok(decl);
    }
  }
  return bad(c, "unknown leaf");
}

/// Unary and binary element-wise ops: the operands' type, with the dtypes the row allows.
Inferred arithmeticType(Checker& c, const Attrs&, const Type&) {
  if (c.in.size() == 2 && (!c.sameType(0, 1) || !c.numericOperand(0))) return failed(c);
  if (!dtypeOk(c, 0)) return failed(c);
  return ok(c.in[0]);
}

Inferred compareType(Checker& c, const Attrs&, const Type&) {
  if (!c.sameType(0, 1)) return failed(c);
  return ok({DType::Bool, c.in[0].shape});
}

Inferred selectType(Checker& c, const Attrs&, const Type&) {
  if (c.in[0].dtype != DType::Bool) return bad(c, "condition must be bool");
  if (!c.sameType(1, 2)) return failed(c);
  if (c.in[0].shape != c.in[1].shape) return bad(c, "condition and values must have one shape");
  return ok(c.in[1]);
}

Inferred castType(Checker& c, const Attrs&, const Type& decl) {
  if (decl.shape != c.in[0].shape) return bad(c, fmt::format("cannot change the shape (declared {})", decl.str()));
  return ok(decl);
}

Inferred permuteType(Checker& c, const PermuteAttrs& a) {
  std::vector<int64_t> sorted = a.perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted[i] != int64_t(i)) sorted.clear();
  if (sorted.size() != a.perm.size() || int64_t(a.perm.size()) != c.in[0].rank())
    return bad(c, fmt::format("perm [{}] is not a permutation of the operand's axes", fmt::join(a.perm, ",")));
  Shape out;
  for (int64_t ax : a.perm) out.push_back(c.in[0].shape[size_t(ax)]);
  return ok({c.in[0].dtype, out});
}

Inferred sliceType(Checker& c, const SliceAttrs& a) {
  const Type& x = c.in[0];
  if (int64_t(a.start.size()) != x.rank() || int64_t(a.stop.size()) != x.rank())
    return bad(c, "start and stop need one value per axis");
  Shape out;
  for (size_t i = 0; i < a.start.size(); ++i) {
    if (a.start[i] < 0 || a.start[i] > a.stop[i] || a.stop[i] > x.shape[i])
      return bad(c, fmt::format("axis {}: need 0 <= start <= stop <= {}, got [{}, {})", i, x.shape[i], a.start[i],
                                a.stop[i]));
    out.push_back(a.stop[i] - a.start[i]);
  }
  return ok({x.dtype, out});
}

Inferred concatType(Checker& c, const AxisAttrs& a) {
  std::span<const Type> in = c.in;
  if (!c.axisOk(a.axis, in[0].rank())) return failed(c);
  Shape out = in[0].shape;
  for (size_t i = 1; i < in.size(); ++i) {
    if (in[i].dtype != in[0].dtype || in[i].rank() != in[0].rank()) return bad(c, "operands must have one dtype and rank");
    for (int64_t d = 0; d < in[0].rank(); ++d)
      if (d != a.axis && in[i].shape[size_t(d)] != in[0].shape[size_t(d)])
        return bad(c, fmt::format("operands differ in dim {}, which is not the concat axis", d));
    if (__builtin_add_overflow(out[size_t(a.axis)], in[i].shape[size_t(a.axis)], &out[size_t(a.axis)]))
      return bad(c, "concatenated dimension overflows");
  }
  return ok({in[0].dtype, out});
}

Inferred padType(Checker& c, const PadAttrs& a) {
  const Type& x = c.in[0];
  if (int64_t(a.lo.size()) != x.rank() || int64_t(a.hi.size()) != x.rank()) return bad(c, "lo and hi need one value per axis");
  if (std::string why = unrepresentable(x.dtype, a.value); !why.empty())
    return bad(c, fmt::format("pad value {} {}", a.value, why));
  Shape out = x.shape;
  for (size_t i = 0; i < out.size(); ++i) {
    if (a.lo[i] < 0 || a.hi[i] < 0 || a.lo[i] > kMaxBytes || a.hi[i] > kMaxBytes)
      return bad(c, "padding must be between 0 and 2^48");
    out[i] += a.lo[i] + a.hi[i];
  }
  return ok({x.dtype, out});
}

Inferred movementType(Checker& c, const Attrs& attrs, const Type& decl) {
  const Type& x = c.in[0];
  switch (movementOp(c.op)) {
    case MovementOp::Broadcast:
      if (decl.dtype != x.dtype || !broadcastsTo(x.shape, decl.shape))
        return bad(c, fmt::format("cannot broadcast to {}", decl.str()));
      return ok(decl);
    case MovementOp::Reshape:
      if (decl.dtype != x.dtype || decl.numel() != x.numel())
        return bad(c, fmt::format("cannot reshape to {}: element counts differ", decl.str()));
      return ok(decl);
    case MovementOp::Permute: return permuteType(c, std::get<PermuteAttrs>(attrs));
    case MovementOp::Slice: return sliceType(c, std::get<SliceAttrs>(attrs));
    case MovementOp::Concat: return concatType(c, std::get<AxisAttrs>(attrs));
    case MovementOp::Pad: return padType(c, std::get<PadAttrs>(attrs));
  }
  return bad(c, "unknown movement op");
}

/// reduce_sum and reduce_max: the reduced axes dropped, or kept as 1 with keepdims.
Inferred reductionType(Checker& c, const Attrs& attrs, const Type&) {
  auto& a = std::get<ReduceAttrs>(attrs);
  const Type& x = c.in[0];
  if (!dtypeOk(c, 0)) return failed(c);
  std::vector<bool> reduced(size_t(x.rank()), false);
  for (int64_t ax : a.axes) {
    if (!c.axisOk(ax, x.rank())) return failed(c);
    if (reduced[size_t(ax)]) return bad(c, fmt::format("axis {} is listed twice", ax));
    reduced[size_t(ax)] = true;
  }
  Shape out;
  for (size_t i = 0; i < reduced.size(); ++i) {
    if (!reduced[i]) out.push_back(x.shape[i]);
    else if (a.keepdims) out.push_back(1);
  }
  if (a.groups.n != 1) {
    if (a.groups.n < 1 || reduced.empty() || !reduced[0] || a.groups.n > x.shape[0])
      return bad(c, fmt::format("groups={} needs axis 0 reduced and 1 <= groups <= its extent", a.groups.n));
    if (a.keepdims) out[0] = a.groups.n;
    else out.insert(out.begin(), a.groups.n);
  }
  bool needsValue = false;
  switch (reductionOp(c.op)) {
    case ReductionOp::ReduceSum: break;
    case ReductionOp::ReduceMax: needsValue = true; break;
  }
  for (size_t i = 0; i < reduced.size(); ++i)
    if (needsValue && reduced[i] && x.shape[i] == 0) return bad(c, "max over an empty axis has no value");
  return ok({x.dtype, out});
}

Inferred matmulType(Checker& c, const MatmulAttrs& a) {
  std::span<const Type> in = c.in;
  if (!dtypeOk(c, 0) || !c.rankAtLeast(0, 2) || !c.rankAtLeast(1, 2)) return failed(c);
  if (in[0].dtype != in[1].dtype || in[0].rank() != in[1].rank()) return bad(c, "operands must have one dtype and rank");
  size_t r = size_t(in[0].rank());
  for (size_t i = 0; i + 2 < r; ++i)
    if (in[0].shape[i] != in[1].shape[i]) return bad(c, "batch dimensions differ");
  int64_t m = in[0].shape[r - (a.transpose_a ? 1 : 2)], ka = in[0].shape[r - (a.transpose_a ? 2 : 1)];
  int64_t kb = in[1].shape[r - (a.transpose_b ? 1 : 2)], n = in[1].shape[r - (a.transpose_b ? 2 : 1)];
  if (ka != kb) return bad(c, fmt::format("contracted dimensions differ: {} vs {}", ka, kb));
  Shape out(in[0].shape.begin(), in[0].shape.end() - 2);
  out.push_back(m);
  out.push_back(n);
  return ok({in[0].dtype, out});
}

Inferred conv2dType(Checker& c, const ConvAttrs& a) {
  std::span<const Type> in = c.in;
  if (!c.floatOperand(0) || !c.sameDtype(0, 1)) return failed(c);
  if (in[0].rank() != 4 || in[1].rank() != 4) return bad(c, "expects x as NCHW and w as OIHW (rank 4)");
  if (!c.pairOk(a.stride, "stride", 1) || !c.pairOk(a.padding, "padding", 0)) return failed(c);
  if (a.groups.n != 1) return bad(c, "only conv2d_grad_weight takes groups");
  if (in[0].shape[1] != in[1].shape[1])
    return bad(c, fmt::format("input channels differ: x has {}, w expects {}", in[0].shape[1], in[1].shape[1]));
  Shape out{in[0].shape[0], in[1].shape[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    int64_t span = in[0].shape[2 + i] + 2 * a.padding[i];
    if (span < in[1].shape[2 + i]) return bad(c, "kernel is larger than the padded input");
    out[2 + i] = (span - in[1].shape[2 + i]) / a.stride[i] + 1;
  }
  return ok({in[0].dtype, out});
}

Inferred contractionType(Checker& c, const Attrs& attrs, const Type&) {
  switch (contractionOp(c.op)) {
    case ContractionOp::Matmul: return matmulType(c, std::get<MatmulAttrs>(attrs));
    case ContractionOp::Conv2d: return conv2dType(c, std::get<ConvAttrs>(attrs));
  }
  return bad(c, "unknown contraction");
}

/// conv2d_grad_input and conv2d_grad_weight: the forward conv2d of the declared type (x or w) and the other
/// operand must produce gy's type.
Inferred convGradType(Checker& c, const ConvAttrs& a, const Type& decl, bool wantsInput) {
  Type weight{decl.dtype, convWeightShape(decl.shape, a.groups.n)};  // with groups, G partials of the weight
  if (a.groups.n != 1) {
    if (wantsInput || a.groups.n < 1 || decl.rank() != 5 || decl.shape[0] != a.groups.n || c.in[0].rank() < 1 ||
        a.groups.n > c.in[0].shape[0])
      return bad(c, fmt::format("groups={} needs conv2d_grad_weight declared [groups,O,C,KH,KW] and 1 <= groups <= "
                                "the batch", a.groups.n));
  }
  Type fwdIn[2] = {wantsInput ? decl : c.in[0], wantsInput ? c.in[1] : weight};
  Checker fc{Op::Conv2d, fwdIn, ""};
  ConvAttrs forward = a;
  forward.groups = {};
  Inferred fwd = conv2dType(fc, forward);
  if (!fwd.ok()) return bad(c, "declared type does not fit a conv2d: " + fwd.error);
  const Type& gy = c.in[wantsInput ? 0 : 1];
  if (!(fwd.type == gy)) return bad(c, fmt::format("the gradient must have the conv2d output type {}", fwd.type.str()));
  return ok(decl);
}

/// max_pool2d_grad(x, gy) and avg_pool2d_grad(gy) -> x: gy must have the pooling's output type.
Inferred poolGradType(Checker& c, const PoolAttrs& a, const Type& x, const Type& gy, Op forward) {
  Type fwdIn[1] = {x};
  Checker fc{forward, fwdIn, ""};
  Inferred fwd = windowType(fc, x, a);
  if (!fwd.ok()) return bad(c, "input type does not fit the pooling: " + fwd.error);
  if (!(fwd.type == gy)) return bad(c, fmt::format("the gradient must have the pooling output type {}", fwd.type.str()));
  return ok(x);
}

Inferred windowOpType(Checker& c, const Attrs& attrs, const Type& decl) {
  switch (windowOp(c.op)) {
    case WindowOp::MaxPool2d:
    case WindowOp::AvgPool2d: return windowType(c, c.in[0], std::get<PoolAttrs>(attrs));
    case WindowOp::Conv2dGradInput: return convGradType(c, std::get<ConvAttrs>(attrs), decl, true);
    case WindowOp::Conv2dGradWeight: return convGradType(c, std::get<ConvAttrs>(attrs), decl, false);
    case WindowOp::MaxPool2dGrad: return poolGradType(c, std::get<PoolAttrs>(attrs), c.in[0], c.in[1], Op::MaxPool2d);
    case WindowOp::AvgPool2dGrad: return poolGradType(c, std::get<PoolAttrs>(attrs), decl, c.in[0], Op::AvgPool2d);
  }
  return bad(c, "unknown window op");
}

Inferred indexType(Checker& c, const Attrs&, const Type& decl) {
  std::span<const Type> in = c.in;
  switch (indexOp(c.op)) {
    case IndexOp::Gather: {
      if (in[1].dtype != DType::I32) return bad(c, "indices must be i32");
      if (!c.rankAtLeast(0, 1)) return failed(c);
      Shape out = in[1].shape;
      out.insert(out.end(), in[0].shape.begin() + 1, in[0].shape.end());
      return ok({in[0].dtype, out});
    }
    case IndexOp::ScatterAdd: {
      if (in[0].dtype != DType::I32) return bad(c, "indices must be i32");
      if (!c.numericOperand(1)) return failed(c);
      if (decl.rank() < 1 || decl.dtype != in[1].dtype) return bad(c, "declared type must be [rows, ...] of the source dtype");
      Shape expect = in[0].shape;
      expect.insert(expect.end(), decl.shape.begin() + 1, decl.shape.end());
      if (expect != in[1].shape)
        return bad(c, fmt::format("source must have shape {} (indices' shape, then the row shape of {})",
                                  shapeStr(expect), decl.str()));
      return ok(decl);
    }
  }
  return bad(c, "unknown indexing op");
}

/// The type rule of an op's class.
Rule ruleOf(OpClass cls) {
  switch (cls) {
    case OpClass::Leaf: return leafType;
    case OpClass::Unary:
    case OpClass::Binary: return arithmeticType;
    case OpClass::Compare: return compareType;
    case OpClass::Select: return selectType;
    case OpClass::Cast: return castType;
    case OpClass::Movement: return movementType;
    case OpClass::Reduction: return reductionType;
    case OpClass::Contraction: return contractionType;
    case OpClass::Window: return windowOpType;
    case OpClass::Index: return indexType;
  }
  KILN_ASSERT(false, "unknown op class");
}

Inferred inferUnchecked(Op op, std::span<const Type> in, const Attrs& attrs, const Type& decl) {
  Checker c{op, in, ""};
  int arity = opInfo(op).arity;
  if (arity >= 0 && int(in.size()) != arity) return bad(c, fmt::format("expects {} operand(s), got {}", arity, in.size()));
  if (arity < 0 && in.empty()) return bad(c, "expects at least one operand");
  return ruleOf(opInfo(op).cls)(c, attrs, decl);
}

}  // namespace

bool broadcastsTo(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[off + i]) return false;
  return true;
}

Inferred inferType(Op op, std::span<const Type> in, const Attrs& attrs, const Type& declared) {
  if (attrs.index() != defaultAttrs(op).index())
    return {{}, fmt::format("{}: attributes of the wrong kind", opName(op))};
  if (typeIsDeclared(op)) {
    std::string bad = checkType(declared);
    if (!bad.empty()) return {{}, fmt::format("{}: {}", opName(op), bad)};
  }
  Inferred r = inferUnchecked(op, in, attrs, declared);
  if (r.ok()) {
    std::string bad = checkType(r.type);
    if (!bad.empty()) return {{}, fmt::format("{}: result {}", opName(op), bad)};
  }
  return r;
}

}  // namespace kiln
