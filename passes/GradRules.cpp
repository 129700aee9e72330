// The gradient rule of every op. Ties: max and min send the gradient to the second operand when the
// operands are equal (so relu = max(x, 0) has gradient 0 at 0, as PyTorch's relu); reduce_max splits it
// evenly among equal maxima (as torch.amax); max_pool2d sends it to the window's first maximum.
#include "passes/GradRules.h"

#include <cmath>

#include <fmt/format.h>

namespace kiln {

namespace {

struct Rule {
  Builder& b;
  const Node& n;
  NodeId id;
  Value gy;
  const std::vector<bool>& wanted;

  /// The contribution to operand i, built only when that operand wants a gradient.
  template <class F>
  Value to(size_t i, F&& make) const {
    return wanted[i] ? make() : Value();
  }

  Value in(size_t i) const { return b.at(n.inputs[i]); }
  Value y() const { return b.at(id); }

  std::vector<Value> unary() const {
    Value x = in(0);
    switch (unaryOp(n.op)) {
      case UnaryOp::Neg: return {-gy};
      case UnaryOp::Abs: return {select(gt(x, 0.0), gy, select(lt(x, 0.0), -gy, 0.0))};
      case UnaryOp::Exp: return {gy * y()};
      case UnaryOp::Log: return {gy / x};
      case UnaryOp::Sqrt: return {gy / y() * 0.5};                 // d sqrt(x) = 1 / (2 sqrt(x))
      case UnaryOp::Rsqrt: return {gy * (y() * y() * y()) * -0.5};  // d x^-1/2 = -x^-3/2 / 2
      case UnaryOp::Tanh: return {gy * (1.0 - y() * y())};
      case UnaryOp::Sigmoid: return {gy * (y() * (1.0 - y()))};
      case UnaryOp::Erf: return {gy * (exp(-(x * x)) * (2.0 / std::sqrt(M_PI)))};
      case UnaryOp::Sin: return {gy * cos(x)};
      case UnaryOp::Cos: return {-(gy * sin(x))};
    }
    KILN_ASSERT(false, "unknown unary op");
  }

  std::vector<Value> binary() const {
    Value a = in(0), c = in(1);
    switch (binaryOp(n.op)) {
      case BinaryOp::Add: return {gy, gy};
      case BinaryOp::Sub: return {gy, to(1, [&] { return -gy; })};
      case BinaryOp::Mul: return {to(0, [&] { return gy * c; }), to(1, [&] { return gy * a; })};
      case BinaryOp::Div:  // d(a/c)/dc = -a/c^2 = -y/c
        return {to(0, [&] { return gy / c; }), to(1, [&] { return -(gy * y() / c); })};
      case BinaryOp::Max:
      case BinaryOp::Min: {
        Value first = n.op == Op::Max ? gt(a, c) : lt(a, c);
        return {to(0, [&] { return select(first, gy, 0.0); }), to(1, [&] { return select(first, 0.0, gy); })};
      }
      case BinaryOp::Pow:  // d a^c/da = c a^(c-1); d a^c/dc = a^c log a, taken as 0 where a <= 0
        return {to(0, [&] { return gy * (c * pow(a, c - 1.0)); }),
                to(1, [&] { return select(gt(a, 0.0), gy * (y() * log(a)), 0.0); })};
      case BinaryOp::Philox: return {Value(), Value()};  // i32 bits: no gradient (the row says so)
    }
    KILN_ASSERT(false, "unknown binary op");
  }

  std::vector<Value> movement() const {
    Value x = in(0);
    switch (movementOp(n.op)) {
      case MovementOp::Broadcast: return {reduceToShape(gy, x.shape())};
      case MovementOp::Reshape: return {reshape(gy, x.shape())};
      case MovementOp::Permute: {
        auto& perm = std::get<PermuteAttrs>(n.attrs).perm;
        std::vector<int64_t> inverse(perm.size());
        for (size_t i = 0; i < perm.size(); ++i) inverse[size_t(perm[i])] = int64_t(i);
        return {permute(gy, inverse)};
      }
      case MovementOp::Slice: {
        auto& a = std::get<SliceAttrs>(n.attrs);
        std::vector<int64_t> hi(a.stop.size());
        for (size_t i = 0; i < hi.size(); ++i) hi[i] = x.shape()[i] - a.stop[i];
        return {pad(gy, a.start, hi, 0.0)};
      }
      case MovementOp::Pad: {
        auto& a = std::get<PadAttrs>(n.attrs);
        std::vector<int64_t> stop(a.lo.size());
        for (size_t i = 0; i < stop.size(); ++i) stop[i] = a.lo[i] + x.shape()[i];
        return {slice(gy, a.lo, stop)};
      }
      case MovementOp::Concat: {
        int64_t axis = std::get<AxisAttrs>(n.attrs).axis, at = 0;
        std::vector<Value> out;
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          int64_t len = in(i).shape()[size_t(axis)];
          out.push_back(to(i, [&] { return sliceAxis(gy, axis, at, at + len); }));
          at += len;
        }
        return out;
      }
    }
    KILN_ASSERT(false, "unknown movement op");
  }

  std::vector<Value> reduction() const {
    auto& a = std::get<ReduceAttrs>(n.attrs);
    if (a.groups.n != 1)
      throw Error(fmt::format("{} with groups={} has no gradient rule: a reduction is split into groups after "
                              "autodiff (passes/SplitReductions.cpp), never before", opName(n.op), a.groups.n));
    Value x = in(0);
    Shape kept = x.shape();
    for (int64_t ax : a.axes) kept[size_t(ax)] = 1;
    Value g = broadcastTo(reshape(gy, kept), x.shape());
    switch (reductionOp(n.op)) {
      case ReductionOp::ReduceSum: return {g};
      case ReductionOp::ReduceMax: {
        Value isMax = cast(eq(x, broadcastTo(reshape(y(), kept), x.shape())), x.dtype());
        Value count = broadcastTo(sum(isMax, a.axes, true), x.shape());
        return {g * isMax / count};
      }
    }
    KILN_ASSERT(false, "unknown reduction");
  }

  std::vector<Value> contraction() const {
    Value a = in(0), c = in(1);
    switch (contractionOp(n.op)) {
      case ContractionOp::Conv2d:
        return {to(0, [&] { return b.add(Op::Conv2dGradInput, {gy, c}, n.attrs, a.type(), Site::current()); }),
                to(1, [&] { return b.add(Op::Conv2dGradWeight, {a, gy}, n.attrs, c.type(), Site::current()); })};
      case ContractionOp::Matmul: return matmulGrads(a, c);
    }
    KILN_ASSERT(false, "unknown contraction");
  }

  /// C = op(A) op(B), with op a transpose when flagged; each gradient is one matmul with flags.
  std::vector<Value> matmulGrads(Value a, Value c) const {
    auto& m = std::get<MatmulAttrs>(n.attrs);
    bool ta = m.transpose_a, tb = m.transpose_b;
    Value da = to(0, [&] { return ta ? matmul(c, gy, tb, true) : matmul(gy, c, false, !tb); });
    Value db = to(1, [&] { return tb ? matmul(gy, a, true, ta) : matmul(a, gy, !ta, false); });
    return {da, db};
  }

  std::vector<Value> window() const {
    switch (windowOp(n.op)) {
      case WindowOp::MaxPool2d: return {b.add(Op::MaxPool2dGrad, {in(0), gy}, n.attrs, Site::current())};
      case WindowOp::AvgPool2d: return {b.add(Op::AvgPool2dGrad, {gy}, n.attrs, in(0).type(), Site::current())};
      case WindowOp::Conv2dGradInput: case WindowOp::Conv2dGradWeight: case WindowOp::MaxPool2dGrad:
      case WindowOp::AvgPool2dGrad: return std::vector<Value>(n.inputs.size());  // no rule (GradKind::NoRule)
    }
    KILN_ASSERT(false, "unknown window op");
  }

  std::vector<Value> index() const {
    switch (indexOp(n.op)) {
      case IndexOp::Gather: return {scatterAdd(in(1), gy, in(0).shape()[0]), Value()};
      case IndexOp::ScatterAdd: return {Value(), gather(gy, in(0))};
    }
    KILN_ASSERT(false, "unknown indexing op");
  }

  std::vector<Value> run() const {
    switch (opInfo(n.op).cls) {
      case OpClass::Leaf: return {};
      case OpClass::Unary: return unary();
      case OpClass::Binary: return binary();
      case OpClass::Compare: return {Value(), Value()};
      case OpClass::Select:
        return {Value(), to(1, [&] { return select(in(0), gy, 0.0); }), to(2, [&] { return select(in(0), 0.0, gy); })};
      case OpClass::Cast: return {cast(gy, in(0).dtype())};
      case OpClass::Movement: return movement();
      case OpClass::Reduction: return reduction();
      case OpClass::Contraction: return contraction();
      case OpClass::Window: return window();
      case OpClass::Index: return index();
    }
    KILN_ASSERT(false, "unknown op class");
  }
};

}  // namespace

std::string nonDifferentiableReason(const Graph& g, NodeId id, size_t i) {
  const Node& n = g[id];
  if (!isFloat(n.type.dtype)) return fmt::format("its result is {}", dtypeName(n.type.dtype));
  if (!isFloat(g[n.inputs[i]].type.dtype)) return fmt::format("operand {} is {}", i, dtypeName(g[n.inputs[i]].type.dtype));
  const OpFacts& f = opInfo(n.op).facts;
  if (f.grad == GradKind::NoRule || (f.noGrad >> i & 1)) return std::string(f.why);
  return "";
}

std::vector<Value> gradientRule(Builder& b, NodeId id, Value gy, const std::vector<bool>& wanted) {
  Node n = b.graph()[id];  // a copy: adding nodes may move the graph's storage
  KILN_ASSERT(wanted.size() == n.inputs.size(), "gradientRule: one wanted flag per operand");
  return Rule{b, n, id, gy, wanted}.run();
}

Value reduceToShape(Value g, const Shape& shape) {
  size_t lead = g.shape().size() - shape.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < g.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(int64_t(i));
  if (axes.empty()) return reshape(g, shape);
  return reshape(sum(g, axes, false), shape);
}

}  // namespace kiln
