// Evaluation of every op of the table with plain loops over doubles.
#include "compiler/Interpreter.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "ir/Error.h"
#include "ir/Printer.h"
#include "ir/Scalar.h"

namespace kiln {

namespace {

/// Calls f(linearIndex, multiIndex) for every element of `shape` in row-major order.
template <class F>
void forEachIndex(const Shape& shape, F&& f) {
  int64_t n = numel(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t lin = 0; lin < n; ++lin) {
    f(lin, idx);
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < shape[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
}

int64_t linearIndex(const std::vector<int64_t>& idx, const std::vector<int64_t>& strides) {
  int64_t lin = 0;
  for (size_t i = 0; i < idx.size(); ++i) lin += idx[i] * strides[i];
  return lin;
}

struct Eval {
  const Graph& g;
  const Node& n;
  NodeId id;
  const std::vector<HostTensor>& vals;

  const HostTensor& in(size_t i) const { return vals[size_t(n.inputs[i].v)]; }
  Error fail(const std::string& msg) const {
    return Error(fmt::format("%{} ({}): {}", id.v, opName(n.op), msg));
  }
  HostTensor out() const { return HostTensor(n.type.dtype, n.type.shape); }

  HostTensor leaf() const {
    HostTensor r = out();
    if (n.op == Op::Constant) {
      auto& v = std::get<ConstAttrs>(n.attrs).values;
      for (int64_t i = 0; i < r.numel(); ++i) r.data[size_t(i)] = v.size() == 1 ? v[0] : v[size_t(i)];
    } else {  // iota
      size_t axis = size_t(std::get<AxisAttrs>(n.attrs).axis);
      forEachIndex(r.shape, [&](int64_t lin, const auto& idx) { r.data[size_t(lin)] = double(idx[axis]); });
    }
    return r;
  }

  HostTensor elementwise() const {
    HostTensor r = out();
    for (int64_t i = 0; i < r.numel(); ++i) {
      size_t k = size_t(i);
      double a = in(0).data[k];
      switch (opInfo(n.op).cls) {
        case OpClass::Unary: r.data[k] = applyUnary(n.op, a); break;
        case OpClass::Binary: r.data[k] = binaryValue(a, in(1).data[k]); break;
        case OpClass::Compare: r.data[k] = applyCompare(n.op, a, in(1).data[k]); break;
        case OpClass::Select: r.data[k] = a != 0 ? in(1).data[k] : in(2).data[k]; break;
        case OpClass::Cast: r.data[k] = castValue(a, i); break;
        case OpClass::Leaf: case OpClass::Movement: case OpClass::Reduction: case OpClass::Contraction:
        case OpClass::Window: case OpClass::Index: KILN_ASSERT(false, "not an element-wise op");
      }
    }
    return r;
  }

  double binaryValue(double a, double b) const {
    if (n.type.dtype != DType::I32) return applyBinary(n.op, a, b, n.type.dtype);
    if (n.op == Op::Div && b == 0) throw fail("integer division by zero");
    if (n.op == Op::Mul)  // exact 32-bit wrap-around; a double product would round past 2^53
      return double(int32_t(uint32_t(uint64_t(int64_t(a)) * uint64_t(int64_t(b)))));
    return applyBinary(n.op, a, b, n.type.dtype);
  }

  double castValue(double v, int64_t i) const {
    if (n.type.dtype == DType::I32 && (std::isnan(v) || v <= -2147483649.0 || v >= 2147483648.0))
      throw fail(fmt::format("element {} ({}) does not fit in i32", i, printNumber(v)));
    if (n.type.dtype == DType::I32) return std::trunc(v);
    return v;  // rounding to f32 or bool happens when the node is stored
  }

  HostTensor broadcast() const {
    HostTensor r = out();
    const HostTensor& x = in(0);
    std::vector<int64_t> st = stridesOf(x.shape);
    size_t off = r.shape.size() - x.shape.size();
    forEachIndex(r.shape, [&](int64_t lin, const auto& idx) {
      int64_t src = 0;
      for (size_t d = 0; d < x.shape.size(); ++d) src += (x.shape[d] == 1 ? 0 : idx[off + d]) * st[d];
      r.data[size_t(lin)] = x.data[size_t(src)];
    });
    return r;
  }

  HostTensor permute() const {
    HostTensor r = out();
    auto& perm = std::get<PermuteAttrs>(n.attrs).perm;
    std::vector<int64_t> st = stridesOf(in(0).shape);
    forEachIndex(r.shape, [&](int64_t lin, const auto& idx) {
      int64_t src = 0;
      for (size_t d = 0; d < perm.size(); ++d) src += idx[d] * st[size_t(perm[d])];
      r.data[size_t(lin)] = in(0).data[size_t(src)];
    });
    return r;
  }

  HostTensor slice() const {
    HostTensor r = out();
    auto& a = std::get<SliceAttrs>(n.attrs);
    std::vector<int64_t> st = stridesOf(in(0).shape);
    forEachIndex(r.shape, [&](int64_t lin, const auto& idx) {
      int64_t src = 0;
      for (size_t d = 0; d < idx.size(); ++d) src += (idx[d] + a.start[d]) * st[d];
      r.data[size_t(lin)] = in(0).data[size_t(src)];
    });
    return r;
  }

  HostTensor concat() const {
    HostTensor r = out();
    size_t axis = size_t(std::get<AxisAttrs>(n.attrs).axis);
    std::vector<int64_t> st = stridesOf(r.shape);
    int64_t offset = 0;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const HostTensor& x = in(k);
      forEachIndex(x.shape, [&](int64_t lin, const auto& idx) {
        std::vector<int64_t> o = idx;
        o[axis] += offset;
        r.data[size_t(linearIndex(o, st))] = x.data[size_t(lin)];
      });
      offset += x.shape[axis];
    }
    return r;
  }

  HostTensor pad() const {
    HostTensor r = out();
    auto& a = std::get<PadAttrs>(n.attrs);
    const HostTensor& x = in(0);
    std::vector<int64_t> st = stridesOf(x.shape);
    forEachIndex(r.shape, [&](int64_t lin, const auto& idx) {
      int64_t src = 0;
      bool inside = true;
      for (size_t d = 0; d < idx.size() && inside; ++d) {
        int64_t i = idx[d] - a.lo[d];
        inside = i >= 0 && i < x.shape[d];
        src += i * st[d];
      }
      r.data[size_t(lin)] = inside ? x.data[size_t(src)] : a.value;
    });
    return r;
  }

  HostTensor reduce() const {
    auto& a = std::get<ReduceAttrs>(n.attrs);
    const HostTensor& x = in(0);
    std::vector<bool> reduced(x.shape.size(), false);
    for (int64_t ax : a.axes) reduced[size_t(ax)] = true;
    // Accumulate into the keepdims shape, whose layout equals the output's.
    Shape kept = x.shape;
    for (size_t d = 0; d < kept.size(); ++d)
      if (reduced[d]) kept[d] = 1;
    std::vector<int64_t> st = stridesOf(kept);
    int64_t groups = a.groups.n, groupStride = numel(kept);  // with groups, partials [G, kept] (see ReduceAttrs)
    bool isMax = n.op == Op::ReduceMax;
    HostTensor r = out();
    std::fill(r.data.begin(), r.data.end(), isMax ? -std::numeric_limits<double>::infinity() : 0.0);
    forEachIndex(x.shape, [&](int64_t lin, const auto& idx) {
      int64_t o = groups > 1 ? groupOf(idx[0], x.shape[0], groups) * groupStride : 0;
      for (size_t d = 0; d < idx.size(); ++d) o += (reduced[d] ? 0 : idx[d]) * st[d];
      double& acc = r.data[size_t(o)];
      double v = x.data[size_t(lin)];
      acc = isMax ? (std::isnan(acc) || std::isnan(v) ? NAN : std::max(acc, v)) : acc + v;
    });
    return r;
  }

  HostTensor matmul() const {
    auto& a = std::get<MatmulAttrs>(n.attrs);
    const HostTensor &x = in(0), &y = in(1);
    HostTensor r = out();
    size_t rk = r.shape.size();
    int64_t M = r.shape[rk - 2], N = r.shape[rk - 1];
    int64_t K = x.shape[rk - (a.transpose_a ? 2 : 1)];
    int64_t batch = numel(Shape(r.shape.begin(), r.shape.end() - 2));
    // Copy each operand to the plain layout (A as [M,K], B as [K,N]) so the inner loop runs along rows.
    std::vector<double> pa(size_t(M * K)), pb(size_t(K * N));
    for (int64_t b = 0; b < batch; ++b) {
      const double* xp = x.data.data() + b * M * K;
      const double* yp = y.data.data() + b * K * N;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t k = 0; k < K; ++k) pa[size_t(i * K + k)] = xp[a.transpose_a ? k * M + i : i * K + k];
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < N; ++j) pb[size_t(k * N + j)] = yp[a.transpose_b ? j * K + k : k * N + j];
      double* out = r.data.data() + b * M * N;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t k = 0; k < K; ++k) {
          double av = pa[size_t(i * K + k)];
          const double* brow = pb.data() + k * N;
          for (int64_t j = 0; j < N; ++j) out[i * N + j] += av * brow[j];
        }
    }
    return r;
  }

  HostTensor conv2d() const {
    const HostTensor &x = in(0), &w = in(1);
    HostTensor r = out();
    forEachConvTerm(x.shape, w.shape, r.shape, [&](int64_t g, int64_t xi, int64_t k) {
      r.data[size_t(g)] += x.data[size_t(xi)] * w.data[size_t(k)];
    });
    return r;
  }

  /// max_pool2d ignores padded positions; avg_pool2d counts them as zeros (PyTorch's defaults).
  HostTensor pool() const {
    auto& a = std::get<PoolAttrs>(n.attrs);
    const HostTensor& x = in(0);
    HostTensor r = out();
    int64_t C = x.shape[1], H = x.shape[2], W = x.shape[3];
    bool isMax = n.op == Op::MaxPool2d;
    forEachIndex(r.shape, [&](int64_t lin, const auto& o) {
      double acc = isMax ? -std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t kh = 0; kh < a.kernel[0]; ++kh)
        for (int64_t kw = 0; kw < a.kernel[1]; ++kw) {
          int64_t h = o[2] * a.stride[0] + kh - a.padding[0], w = o[3] * a.stride[1] + kw - a.padding[1];
          if (h < 0 || h >= H || w < 0 || w >= W) continue;
          double v = x.data[size_t(((o[0] * C + o[1]) * H + h) * W + w)];
          acc = isMax ? (std::isnan(acc) || std::isnan(v) ? NAN : std::max(acc, v)) : acc + v;
        }
      r.data[size_t(lin)] = isMax ? acc : acc / double(a.kernel[0] * a.kernel[1]);
    });
    return r;
  }

  /// Calls f(gyIndex, xIndex, wIndex) for every multiply-add term of a conv2d with x, w and gy of the
  /// types given: the one loop nest that conv2d's two gradients share.
  template <class F>
  void forEachConvTerm(const Shape& xs, const Shape& ws, const Shape& gs, F&& f) const {
    auto& a = std::get<ConvAttrs>(n.attrs);
    int64_t C = xs[1], H = xs[2], W = xs[3], KH = ws[2], KW = ws[3];
    forEachIndex(gs, [&](int64_t lin, const auto& o) {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            int64_t h = o[2] * a.stride[0] + kh - a.padding[0], w = o[3] * a.stride[1] + kw - a.padding[1];
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            f(lin, ((o[0] * C + c) * H + h) * W + w, ((o[1] * C + c) * KH + kh) * KW + kw);
          }
    });
  }

  HostTensor conv2dGrad() const {
    HostTensor r = out();
    if (n.op == Op::Conv2dGradInput) {  // operands gy, w; result x
      const HostTensor &gy = in(0), &w = in(1);
      forEachConvTerm(r.shape, w.shape, gy.shape, [&](int64_t g, int64_t x, int64_t k) {
        r.data[size_t(x)] += gy.data[size_t(g)] * w.data[size_t(k)];
      });
    } else {  // operands x, gy; result w, or with groups G partials of it, one per run of samples
      const HostTensor &x = in(0), &gy = in(1);
      int64_t groups = std::get<ConvAttrs>(n.attrs).groups.n, N = x.shape[0];
      Shape w = convWeightShape(r.shape, groups);
      int64_t perSample = numel(gy.shape) / std::max<int64_t>(N, 1);
      forEachConvTerm(x.shape, w, gy.shape, [&](int64_t g, int64_t xi, int64_t k) {
        int64_t part = groups > 1 ? groupOf(g / perSample, N, groups) * numel(w) : 0;
        r.data[size_t(part + k)] += gy.data[size_t(g)] * x.data[size_t(xi)];
      });
    }
    return r;
  }

  /// The gradient of a pooling: max sends each window's gradient to its first maximum (row-major), avg
  /// spreads it evenly over the window (padding included in the count, as the forward pass divides).
  HostTensor poolGrad() const {
    auto& a = std::get<PoolAttrs>(n.attrs);
    bool isMax = n.op == Op::MaxPool2dGrad;
    const HostTensor& gy = in(isMax ? 1 : 0);
    HostTensor r = out();
    int64_t C = r.shape[1], H = r.shape[2], W = r.shape[3];
    forEachIndex(gy.shape, [&](int64_t lin, const auto& o) {
      int64_t best = -1;
      double bestVal = 0;
      for (int64_t kh = 0; kh < a.kernel[0]; ++kh)
        for (int64_t kw = 0; kw < a.kernel[1]; ++kw) {
          int64_t h = o[2] * a.stride[0] + kh - a.padding[0], w = o[3] * a.stride[1] + kw - a.padding[1];
          if (h < 0 || h >= H || w < 0 || w >= W) continue;
          int64_t at = ((o[0] * C + o[1]) * H + h) * W + w;
          if (!isMax) {
            r.data[size_t(at)] += gy.data[size_t(lin)] / double(a.kernel[0] * a.kernel[1]);
            continue;
          }
          double v = in(0).data[size_t(at)];
          if (best < 0 || v > bestVal || (std::isnan(v) && !std::isnan(bestVal))) best = at, bestVal = v;
        }
      if (isMax && best >= 0) r.data[size_t(best)] += gy.data[size_t(lin)];
    });
    return r;
  }

  int64_t checkedIndex(double v, int64_t rows, int64_t pos) const {
    if (v < 0 || v >= double(rows))
      throw fail(fmt::format("index {} at position {} is out of range [0, {})", int64_t(v), pos, rows));
    return int64_t(v);
  }

  HostTensor gather() const {
    const HostTensor &table = in(0), &idx = in(1);
    HostTensor r = out();
    int64_t row = numel(Shape(table.shape.begin() + 1, table.shape.end()));
    for (int64_t i = 0; i < idx.numel(); ++i) {
      int64_t src = checkedIndex(idx.data[size_t(i)], table.shape[0], i);
      std::copy_n(table.data.begin() + src * row, row, r.data.begin() + i * row);
    }
    return r;
  }

  HostTensor scatterAdd() const {
    const HostTensor &idx = in(0), &src = in(1);
    HostTensor r = out();
    int64_t row = numel(Shape(r.shape.begin() + 1, r.shape.end()));
    for (int64_t i = 0; i < idx.numel(); ++i) {
      int64_t dst = checkedIndex(idx.data[size_t(i)], r.shape[0], i);
      for (int64_t k = 0; k < row; ++k) r.data[size_t(dst * row + k)] += src.data[size_t(i * row + k)];
    }
    return r;
  }

  HostTensor movement() const {
    switch (movementOp(n.op)) {
      case MovementOp::Broadcast: return broadcast();
      case MovementOp::Reshape: return HostTensor(n.type.dtype, n.type.shape, in(0).data);
      case MovementOp::Permute: return permute();
      case MovementOp::Slice: return slice();
      case MovementOp::Concat: return concat();
      case MovementOp::Pad: return pad();
    }
    KILN_ASSERT(false, "unknown movement op");
  }

  HostTensor contraction() const {
    switch (contractionOp(n.op)) {
      case ContractionOp::Matmul: return matmul();
      case ContractionOp::Conv2d: return conv2d();
    }
    KILN_ASSERT(false, "unknown contraction");
  }

  HostTensor window() const {
    switch (windowOp(n.op)) {
      case WindowOp::MaxPool2d:
      case WindowOp::AvgPool2d: return pool();
      case WindowOp::Conv2dGradInput:
      case WindowOp::Conv2dGradWeight: return conv2dGrad();
      case WindowOp::MaxPool2dGrad:
      case WindowOp::AvgPool2dGrad: return poolGrad();
    }
    KILN_ASSERT(false, "unknown window op");
  }

  HostTensor index() const {
    switch (indexOp(n.op)) {
      case IndexOp::Gather: return gather();
      case IndexOp::ScatterAdd: return scatterAdd();
    }
    KILN_ASSERT(false, "unknown indexing op");
  }

  HostTensor run() const {
    switch (opInfo(n.op).cls) {
      case OpClass::Leaf:
        KILN_ASSERT(!isNamedLeaf(n.op), "leaves are fed, not evaluated");
        return leaf();
      case OpClass::Unary: case OpClass::Binary: case OpClass::Compare: case OpClass::Select: case OpClass::Cast:
        return elementwise();
      case OpClass::Movement: return movement();
      case OpClass::Reduction: return reduce();
      case OpClass::Contraction: return contraction();
      case OpClass::Window: return window();
      case OpClass::Index: return index();
    }
    KILN_ASSERT(false, "unknown op class");
  }
};

/// The feed for leaf `n`, checked against its declared type.
HostTensor feedFor(const Node& n, NodeId id, const TensorMap& feeds, Precision p) {
  const std::string& name = leafName(n);
  auto it = feeds.find(name);
  if (it == feeds.end())
    throw Error(fmt::format("{} \"{}\" (%{}) has no value: expected {}", opName(n.op), name, id.v, n.type.str()));
  const HostTensor& t = it->second;
  bool dtypeOk = t.dtype == n.type.dtype || (p == Precision::F64 && isFloat(t.dtype) && isFloat(n.type.dtype));
  if (!dtypeOk || t.shape != n.type.shape || t.numel() != n.type.numel())
    throw Error(fmt::format("{} \"{}\": expected {}, got {}", opName(n.op), name, n.type.str(), t.type().str()));
  return HostTensor(n.type.dtype, n.type.shape, t.data);
}

}  // namespace

void checkFeeds(const Graph& g, const TensorMap& feeds) {
  for (int32_t i = 0; i < g.size(); ++i)
    if (isNamedLeaf(g.nodes()[size_t(i)].op)) feedFor(g.nodes()[size_t(i)], NodeId{i}, feeds, Precision::Declared);
}

std::vector<HostTensor> evaluateAll(const Graph& g, const TensorMap& feeds, Precision precision) {
  std::vector<HostTensor> vals;
  vals.reserve(size_t(g.size()));
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    HostTensor v = isNamedLeaf(n.op) ? feedFor(n, NodeId{i}, feeds, precision)
                                                                : Eval{g, n, NodeId{i}, vals}.run();
    DType storage = precision == Precision::F64 && n.type.dtype == DType::F32 ? DType::F64 : n.type.dtype;
    for (double& x : v.data) x = roundTo(storage, x);
    v.dtype = storage;
    vals.push_back(std::move(v));
  }
  return vals;
}

TensorMap evaluate(const Graph& g, const TensorMap& feeds, Precision precision) {
  std::vector<HostTensor> vals = evaluateAll(g, feeds, precision);
  TensorMap out;
  for (const Output& o : g.outputs()) out[o.name] = vals[size_t(o.node.v)];
  return out;
}

}  // namespace kiln
