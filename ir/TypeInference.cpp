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

Inferred inferUnchecked(Op op, std::span<const Type> in, const Attrs& attrs, const Type& decl) {
  Checker c{op, in, ""};
  auto bad = [&](const std::string& m) { return Inferred{{}, (c.fail(m), c.error)}; };
  int arity = opInfo(op).arity;
  if (arity >= 0 && int(in.size()) != arity)
    return bad(fmt::format("expects {} operand(s), got {}", arity, in.size()));
  if (arity < 0 && in.empty()) return bad("expects at least one operand");

  switch (op) {
    case Op::Input:
    case Op::Parameter:
    case Op::State:
    case Op::Iota:
    case Op::Constant: {
      if (op == Op::Parameter && !isFloat(decl.dtype)) return bad("parameters must be f32 or f64");
      if (op == Op::State) {
        Init init = std::get<ParamAttrs>(attrs).init;
        if (decl.dtype == DType::Bool) return bad("state cannot be bool");
        if (!isFloat(decl.dtype) && init != Init::Zeros && init != Init::Ones)
          return bad("integer state must be initialised with zeros or ones");
      }
      if (op == Op::Iota) {
        auto& a = std::get<AxisAttrs>(attrs);
        if (decl.dtype == DType::Bool) return bad("iota cannot be bool");
        if (!c.axisOk(a.axis, decl.rank())) return {{}, c.error};
      }
      if (op == Op::Constant) {
        auto& a = std::get<ConstAttrs>(attrs);
        if (a.values.size() != 1 && int64_t(a.values.size()) != decl.numel())
          return bad(fmt::format("has {} values; expected 1 or {} for {}", a.values.size(), decl.numel(),
                                 decl.str()));
        for (size_t i = 0; i < a.values.size(); ++i)
          if (std::string why = unrepresentable(decl.dtype, a.values[i]); !why.empty())
            return bad(fmt::format("value {} ({}) {}", i, a.values[i], why));
      }
      return {decl, ""};
    }
    case Op::Neg:
    case Op::Abs:
      if (!c.numericOperand(0)) return {{}, c.error};
      return {in[0], ""};
    case Op::Exp:
    case Op::Log:
    case Op::Sqrt:
    case Op::Rsqrt:
    case Op::Tanh:
    case Op::Sigmoid:
    case Op::Erf:
    case Op::Sin:
    case Op::Cos:
      if (!c.floatOperand(0)) return {{}, c.error};
      return {in[0], ""};
    case Op::Add:
    case Op::Sub:
    case Op::Mul:
    case Op::Div:
    case Op::Max:
    case Op::Min:
    case Op::Pow:
      if (!c.sameType(0, 1) || !c.numericOperand(0)) return {{}, c.error};
      if (op == Op::Pow && !c.floatOperand(0)) return {{}, c.error};
      return {in[0], ""};
    case Op::Eq:
    case Op::Ne:
    case Op::Lt:
    case Op::Le:
    case Op::Gt:
    case Op::Ge:
      if (!c.sameType(0, 1)) return {{}, c.error};
      return {{DType::Bool, in[0].shape}, ""};
    case Op::Select:
      if (in[0].dtype != DType::Bool) return bad("condition must be bool");
      if (!c.sameType(1, 2)) return {{}, c.error};
      if (in[0].shape != in[1].shape) return bad("condition and values must have one shape");
      return {in[1], ""};
    case Op::Cast:
      if (decl.shape != in[0].shape) return bad(fmt::format("cannot change the shape (declared {})", decl.str()));
      return {decl, ""};
    case Op::Broadcast:
      if (decl.dtype != in[0].dtype || !broadcastsTo(in[0].shape, decl.shape))
        return bad(fmt::format("cannot broadcast to {}", decl.str()));
      return {decl, ""};
    case Op::Reshape:
      if (decl.dtype != in[0].dtype || decl.numel() != in[0].numel())
        return bad(fmt::format("cannot reshape to {}: element counts differ", decl.str()));
      return {decl, ""};
    case Op::Permute: {
      auto& p = std::get<PermuteAttrs>(attrs).perm;
      std::vector<int64_t> sorted = p;
      std::sort(sorted.begin(), sorted.end());
      for (size_t i = 0; i < sorted.size(); ++i)
        if (sorted[i] != int64_t(i)) sorted.clear();
      if (sorted.size() != p.size() || int64_t(p.size()) != in[0].rank())
        return bad(fmt::format("perm [{}] is not a permutation of the operand's axes", fmt::join(p, ",")));
      Shape out;
      for (int64_t a : p) out.push_back(in[0].shape[size_t(a)]);
      return {{in[0].dtype, out}, ""};
    }
    case Op::Slice: {
      auto& a = std::get<SliceAttrs>(attrs);
      if (int64_t(a.start.size()) != in[0].rank() || int64_t(a.stop.size()) != in[0].rank())
        return bad("start and stop need one value per axis");
      Shape out;
      for (size_t i = 0; i < a.start.size(); ++i) {
        if (a.start[i] < 0 || a.start[i] > a.stop[i] || a.stop[i] > in[0].shape[i])
          return bad(fmt::format("axis {}: need 0 <= start <= stop <= {}, got [{}, {})", i, in[0].shape[i],
                                 a.start[i], a.stop[i]));
        out.push_back(a.stop[i] - a.start[i]);
      }
      return {{in[0].dtype, out}, ""};
    }
    case Op::Concat: {
      int64_t axis = std::get<AxisAttrs>(attrs).axis;
      if (!c.axisOk(axis, in[0].rank())) return {{}, c.error};
      Shape out = in[0].shape;
      for (size_t i = 1; i < in.size(); ++i) {
        if (in[i].dtype != in[0].dtype || in[i].rank() != in[0].rank())
          return bad("operands must have one dtype and rank");
        for (int64_t d = 0; d < in[0].rank(); ++d)
          if (d != axis && in[i].shape[size_t(d)] != in[0].shape[size_t(d)])
            return bad(fmt::format("operands differ in dim {}, which is not the concat axis", d));
        if (__builtin_add_overflow(out[size_t(axis)], in[i].shape[size_t(axis)], &out[size_t(axis)]))
          return bad("concatenated dimension overflows");
      }
      return {{in[0].dtype, out}, ""};
    }
    case Op::Pad: {
      auto& a = std::get<PadAttrs>(attrs);
      if (int64_t(a.lo.size()) != in[0].rank() || int64_t(a.hi.size()) != in[0].rank())
        return bad("lo and hi need one value per axis");
      if (std::string why = unrepresentable(in[0].dtype, a.value); !why.empty())
        return bad(fmt::format("pad value {} {}", a.value, why));
      Shape out = in[0].shape;
      for (size_t i = 0; i < out.size(); ++i) {
        if (a.lo[i] < 0 || a.hi[i] < 0 || a.lo[i] > kMaxBytes || a.hi[i] > kMaxBytes)
          return bad("padding must be between 0 and 2^48");
        out[i] += a.lo[i] + a.hi[i];
      }
      return {{in[0].dtype, out}, ""};
    }
    case Op::ReduceSum:
    case Op::ReduceMax: {
      auto& a = std::get<ReduceAttrs>(attrs);
      if (!c.numericOperand(0)) return {{}, c.error};
      std::vector<bool> reduced(size_t(in[0].rank()), false);
      for (int64_t ax : a.axes) {
        if (!c.axisOk(ax, in[0].rank())) return {{}, c.error};
        if (reduced[size_t(ax)]) return bad(fmt::format("axis {} is listed twice", ax));
        reduced[size_t(ax)] = true;
      }
      Shape out;
      for (size_t i = 0; i < reduced.size(); ++i) {
        if (!reduced[i]) out.push_back(in[0].shape[i]);
        else if (a.keepdims) out.push_back(1);
      }
      if (op == Op::ReduceMax)
        for (size_t i = 0; i < reduced.size(); ++i)
          if (reduced[i] && in[0].shape[i] == 0) return bad("max over an empty axis has no value");
      return {{in[0].dtype, out}, ""};
    }
    case Op::Matmul: {
      auto& a = std::get<MatmulAttrs>(attrs);
      if (!c.floatOperand(0) || !c.rankAtLeast(0, 2) || !c.rankAtLeast(1, 2)) return {{}, c.error};
      if (in[0].dtype != in[1].dtype || in[0].rank() != in[1].rank())
        return bad("operands must have one dtype and rank");
      size_t r = size_t(in[0].rank());
      for (size_t i = 0; i + 2 < r; ++i)
        if (in[0].shape[i] != in[1].shape[i]) return bad("batch dimensions differ");
      int64_t m = in[0].shape[r - (a.transpose_a ? 1 : 2)], ka = in[0].shape[r - (a.transpose_a ? 2 : 1)];
      int64_t kb = in[1].shape[r - (a.transpose_b ? 1 : 2)], n = in[1].shape[r - (a.transpose_b ? 2 : 1)];
      if (ka != kb) return bad(fmt::format("contracted dimensions differ: {} vs {}", ka, kb));
      Shape out(in[0].shape.begin(), in[0].shape.end() - 2);
      out.push_back(m);
      out.push_back(n);
      return {{in[0].dtype, out}, ""};
    }
    case Op::Conv2d: {
      auto& a = std::get<ConvAttrs>(attrs);
      if (!c.floatOperand(0) || !c.sameDtype(0, 1)) return {{}, c.error};
      if (in[0].rank() != 4 || in[1].rank() != 4) return bad("expects x as NCHW and w as OIHW (rank 4)");
      if (!c.pairOk(a.stride, "stride", 1) || !c.pairOk(a.padding, "padding", 0)) return {{}, c.error};
      if (in[0].shape[1] != in[1].shape[1])
        return bad(fmt::format("input channels differ: x has {}, w expects {}", in[0].shape[1], in[1].shape[1]));
      Shape out{in[0].shape[0], in[1].shape[0], 0, 0};
      for (int i = 0; i < 2; ++i) {
        int64_t span = in[0].shape[2 + i] + 2 * a.padding[i];
        if (span < in[1].shape[2 + i]) return bad("kernel is larger than the padded input");
        out[2 + i] = (span - in[1].shape[2 + i]) / a.stride[i] + 1;
      }
      return {{in[0].dtype, out}, ""};
    }
    case Op::MaxPool2d:
    case Op::AvgPool2d:
      return windowType(c, in[0], std::get<PoolAttrs>(attrs));
    case Op::Conv2dGradInput:
    case Op::Conv2dGradWeight: {
      // The forward conv2d of the declared type (x or w) and the other operand must produce gy's type.
      bool wantsInput = op == Op::Conv2dGradInput;
      Type fwdIn[2] = {wantsInput ? decl : in[0], wantsInput ? in[1] : decl};
      Inferred fwd = inferUnchecked(Op::Conv2d, fwdIn, attrs, decl);
      if (!fwd.ok()) return bad("declared type does not fit a conv2d: " + fwd.error);
      const Type& gy = in[wantsInput ? 0 : 1];
      if (!(fwd.type == gy)) return bad(fmt::format("the gradient must have the conv2d output type {}", fwd.type.str()));
      return {decl, ""};
    }
    case Op::MaxPool2dGrad:
    case Op::AvgPool2dGrad: {
      const Type& x = op == Op::MaxPool2dGrad ? in[0] : decl;
      const Type& gy = op == Op::MaxPool2dGrad ? in[1] : in[0];
      Type fwdIn[1] = {x};
      Checker fc{op == Op::MaxPool2dGrad ? Op::MaxPool2d : Op::AvgPool2d, fwdIn, ""};
      Inferred fwd = windowType(fc, x, std::get<PoolAttrs>(attrs));
      if (!fwd.ok()) return bad("input type does not fit the pooling: " + fwd.error);
      if (!(fwd.type == gy)) return bad(fmt::format("the gradient must have the pooling output type {}", fwd.type.str()));
      return {x, ""};
    }
    case Op::Gather: {
      if (in[1].dtype != DType::I32) return bad("indices must be i32");
      if (!c.rankAtLeast(0, 1)) return {{}, c.error};
      Shape out = in[1].shape;
      out.insert(out.end(), in[0].shape.begin() + 1, in[0].shape.end());
      return {{in[0].dtype, out}, ""};
    }
    case Op::ScatterAdd: {
      if (in[0].dtype != DType::I32) return bad("indices must be i32");
      if (!c.numericOperand(1)) return {{}, c.error};
      if (decl.rank() < 1 || decl.dtype != in[1].dtype) return bad("declared type must be [rows, ...] of the source dtype");
      Shape expect = in[0].shape;
      expect.insert(expect.end(), decl.shape.begin() + 1, decl.shape.end());
      if (expect != in[1].shape)
        return bad(fmt::format("source must have shape {} (indices' shape, then the row shape of {})",
                               shapeStr(expect), decl.str()));
      return {decl, ""};
    }
  }
  return bad("unknown op");
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
