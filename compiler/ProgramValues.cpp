// The values a random program may hold: what the generator checks of every op it draws before keeping it.
#include <algorithm>
#include <cmath>

#include "compiler/RandomProgram.h"

namespace kiln {

namespace {

constexpr double kMaxMagnitude = 1e4;
/// How close to a threshold (relative to 1 + the magnitude) a value may come: f32 rounding in either engine
/// stays far below it.
constexpr double kMargin = 1e-4;

double tolerance(double a, double b) { return kMargin * (1 + std::max(std::fabs(a), std::fabs(b))); }

/// Whether a and b are a near tie: different but closer than the margin.
bool nearTie(double a, double b) { return a != b && std::fabs(a - b) < tolerance(a, b); }

/// Calls f(flat, index) for every element of `shape` in row-major order.
template <class F>
void forEach(const Shape& shape, F&& f) {
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t flat = 0, n = numel(shape); flat < n; ++flat) {
    f(flat, idx);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

/// Whether no group of values (a reduction's or a window's) has a near tie for its maximum.
bool clearMaxima(const std::vector<std::vector<double>>& groups) {
  for (const std::vector<double>& grp : groups) {
    if (grp.empty()) continue;
    double top = *std::max_element(grp.begin(), grp.end()), second = -INFINITY;
    for (double e : grp)
      if (e < top) second = std::max(second, e);
    if (std::isfinite(second) && nearTie(top, second)) return false;
  }
  return true;
}

/// The values each output element of a reduce_max or max_pool2d chooses its maximum from.
std::vector<std::vector<double>> maxGroups(const Node& n, const Shape& inShape, const HostTensor& x) {
  std::vector<std::vector<double>> groups(size_t(n.type.numel()));
  if (n.op == Op::ReduceMax) {
    Shape kept = inShape;
    for (int64_t a : std::get<ReduceAttrs>(n.attrs).axes) kept[size_t(a)] = 1;
    std::vector<int64_t> st = stridesOf(kept);
    forEach(inShape, [&](int64_t flat, const std::vector<int64_t>& idx) {
      int64_t o = 0;
      for (size_t d = 0; d < idx.size(); ++d) o += kept[d] == 1 ? 0 : idx[d] * st[d];
      groups[size_t(o)].push_back(x.data[size_t(flat)]);
    });
    return groups;
  }
  auto& a = std::get<PoolAttrs>(n.attrs);
  const Shape& o = n.type.shape;
  forEach(o, [&](int64_t flat, const std::vector<int64_t>& idx) {
    for (int64_t i = 0; i < a.kernel[0]; ++i)
      for (int64_t j = 0; j < a.kernel[1]; ++j) {
        int64_t h = idx[2] * a.stride[0] - a.padding[0] + i, w = idx[3] * a.stride[1] - a.padding[1] + j;
        if (h < 0 || w < 0 || h >= inShape[2] || w >= inShape[3]) continue;
        groups[size_t(flat)].push_back(x.data[size_t(((idx[0] * inShape[1] + idx[1]) * inShape[2] + h) * inShape[3] + w)]);
      }
  });
  return groups;
}

/// Whether node `id` holds values that every engine computes bit for bit: leaves, constants, iota, casts
/// from i32 or bool, and movement of such values. Only these may sit exactly on a threshold (a tie, an
/// integer before a cast to i32, a zero under abs): a computed value that is exact in f64 may land an ulp
/// to either side in f32, and then two correct engines disagree.
bool exactByConstruction(const Graph& g, NodeId id) {
  const Node& n = g[id];
  switch (opInfo(n.op).cls) {
    case OpClass::Leaf: return true;
    case OpClass::Cast: return !isFloat(g[n.inputs[0]].type.dtype);
    case OpClass::Movement:
      for (NodeId in : n.inputs)
        if (!exactByConstruction(g, in)) return false;
      return true;
    default: return false;
  }
}

}  // namespace

bool trustworthyValues(const Graph& gr, int32_t firstNew, const std::vector<HostTensor>& vals,
                       const std::vector<HostTensor>& vals32, int64_t maxElements) {
  for (int32_t i = firstNew; i < gr.size(); ++i) {
    const Node& n = gr.nodes()[size_t(i)];
    const HostTensor& v = vals[size_t(i)];
    if (n.type.numel() > maxElements) return false;
    double scale = 1;
    for (double e : v.data) {
      if (!std::isfinite(e) || std::fabs(e) > kMaxMagnitude) return false;
      scale = std::max(scale, std::fabs(e));
    }
    // Well conditioned: f32 arithmetic lands near the exact value (else two correct f32 engines may not).
    for (size_t e = 0; e < v.data.size(); ++e)
      if (!(std::fabs(vals32[size_t(i)].data[e] - v.data[e]) <= 1e-5 * scale)) return false;
    auto in = [&](size_t k) -> const HostTensor& { return vals[size_t(n.inputs[k].v)]; };
    bool floatIn = !n.inputs.empty() && isFloat(gr[n.inputs[0]].type.dtype);
    bool exact = true;
    for (NodeId x : n.inputs) exact = exact && exactByConstruction(gr, x);
    switch (n.op) {
      case Op::Eq: case Op::Ne: case Op::Lt: case Op::Le: case Op::Gt: case Op::Ge: case Op::Max: case Op::Min:
        if (!floatIn) break;
        for (size_t e = 0; e < v.data.size(); ++e) {
          double a = in(0).data[e], c = in(1).data[e];
          if (nearTie(a, c) || (a == c && n.inputs[0] != n.inputs[1] && !exact)) return false;
        }
        break;
      case Op::Abs:
        for (double e : in(0).data)
          if ((e != 0 || !exact) && std::fabs(e) < kMargin) return false;
        break;
      case Op::Cast:
        if (!floatIn) break;
        for (double e : in(0).data) {
          double frac = std::fabs(e - std::round(e));
          if ((n.type.dtype == DType::I32 && (frac != 0 || !exact) && frac < 1e-3) ||
              (n.type.dtype == DType::Bool && (e != 0 || !exact) && std::fabs(e) < kMargin))
            return false;
        }
        break;
      case Op::ReduceMax: case Op::MaxPool2d:
        if (floatIn && !clearMaxima(maxGroups(n, gr[n.inputs[0]].type.shape, in(0)))) return false;
        break;
      default: break;
    }
  }
  return true;
}

}  // namespace kiln
