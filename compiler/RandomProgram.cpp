// The random program generator: draws ops one at a time with the DSL, evaluates every candidate with the
// interpreter in f64 at the fed point, and keeps it only if its values are finite, moderate, in the domain
// of the ops that read them, and away from thresholds (so f32 rounding cannot flip a comparison, a cast or
// the choice of a maximum between two correct engines, and finite differences see a smooth function).
#include "compiler/RandomProgram.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include <fmt/format.h>

#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "ir/Builder.h"
#include "ir/Error.h"
#include "passes/GradRules.h"

namespace kiln {

namespace {

struct Generator {
  Rng rng;
  RandomProgramOptions opts;
  DType ft;                       // the program's float type
  Builder b{"random"};
  TensorMap feeds;
  std::vector<HostTensor> vals;   // by node id, at the fed point, in f64
  std::vector<HostTensor> vals32; // the same in the declared precision (f32 rounded at every node)
  std::vector<bool> live;         // by node id: a parameter reaches it
  int32_t leaves = 0;

  Generator(uint64_t seed, const RandomProgramOptions& o) : rng(seed * 0x9E3779B97F4A7C15ull + 1), opts(o) {
    ft = chance(0.15) ? DType::F64 : DType::F32;
  }

  int64_t pick(int64_t n) { return n <= 1 ? 0 : int64_t(rng.next() % uint64_t(n)); }
  bool chance(double p) { return rng.uniform() < p; }
  template <class T> const T& oneOf(const std::vector<T>& v) { return v[size_t(pick(int64_t(v.size())))]; }

  int64_t randomDim() {
    double u = rng.uniform();
    return u < 0.04 ? 0 : u < 0.24 ? 1 : 2 + pick(6);
  }
  Shape randomShape(int32_t rank) {
    for (;;) {
      Shape s;
      for (int32_t i = 0; i < rank; ++i) s.push_back(randomDim());
      if (numel(s) <= opts.maxElements) return s;
    }
  }
  Shape randomShape() { return randomShape(int32_t(pick(opts.maxRank + 1))); }

  /// A new input (or, with `param`, a parameter) with random values: floats normal, i32 in [lo, hi).
  Value leaf(const Type& t, bool param, int64_t lo = -4, int64_t hi = 5) {
    std::string name = fmt::format("{}{}", param ? "p" : "x", leaves++);
    HostTensor v(t.dtype, t.shape);
    double scale = oneOf<double>({0.5, 1.0, 1.0, 2.0});
    for (double& e : v.data) {
      if (isFloat(t.dtype)) e = t.dtype == DType::F32 ? double(float(scale * rng.normal())) : scale * rng.normal();
      else if (t.dtype == DType::Bool) e = double(chance(0.5));
      else e = double(lo + pick(hi - lo));
    }
    feeds[name] = v;
    Value x = param ? b.parameter(name, t.shape, Init::Normal, 1.0, t.dtype) : b.input(name, t);
    sync();
    return x;
  }
  Value floatLeaf(const Shape& s) { return leaf({ft, s}, chance(0.6)); }

  /// Values and liveness for every node (after a node was accepted).
  void sync() {
    vals = evaluateAll(b.graph(), feeds, Precision::F64);
    vals32 = evaluateAll(b.graph(), feeds);
    const Graph& g = b.graph();
    live.resize(size_t(g.size()), false);
    for (int32_t i = 0; i < g.size(); ++i) {
      const Node& n = g.nodes()[size_t(i)];
      live[size_t(i)] = n.op == Op::Parameter;
      for (NodeId in : n.inputs) live[size_t(i)] = live[size_t(i)] || live[size_t(in.v)];
    }
  }

  /// The value of `v` at the fed point (evaluating nodes added since the last sync).
  const HostTensor& at(Value v) {
    if (size_t(v.id().v) >= vals.size()) sync();
    return vals[size_t(v.id().v)];
  }
  double minAbs(Value v) {
    double m = INFINITY;
    for (double e : at(v).data) m = std::min(m, std::fabs(e));
    return m;
  }
  double minValue(Value v) {
    double m = INFINITY;
    for (double e : at(v).data) m = std::min(m, e);
    return m;
  }

  /// A value of the pool: recent ones more often, so chains grow; `want` filters.
  std::optional<Value> fromPool(const std::function<bool(const Node&)>& want) {
    const Graph& g = b.graph();
    std::vector<int32_t> ok;
    for (int32_t i = 0; i < g.size(); ++i)
      if (want(g.nodes()[size_t(i)])) ok.push_back(i);
    if (ok.empty()) return std::nullopt;
    size_t recent = std::min<size_t>(ok.size(), 6);
    int32_t id = chance(0.7) ? ok[ok.size() - 1 - size_t(pick(int64_t(recent)))] : oneOf(ok);
    return b.at(NodeId{id});
  }
  Value anyFloat(int32_t minRank = 0) {
    auto v = fromPool([&](const Node& n) { return isFloat(n.type.dtype) && n.type.rank() >= minRank; });
    if (v && chance(0.85)) return *v;
    return floatLeaf(randomShape(minRank + int32_t(pick(opts.maxRank - minRank + 1))));
  }
  /// `x` made positive (at least 0.05) where it is not: x*x + 0.5.
  Value positive(Value x) { return minValue(x) >= 0.05 ? x : x * x + 0.5; }
  Value awayFromZero(Value x) { return minAbs(x) >= 0.05 ? x : x * x + 0.5; }

  /// A shape that broadcasts to `s`: some leading dims dropped, some dims set to 1.
  Shape broadcastable(const Shape& s) {
    Shape r(s.begin() + pick(int64_t(s.size()) + 1), s.end());
    for (int64_t& d : r)
      if (chance(0.3)) d = 1;
    return r;
  }
  /// A second operand for an element-wise op with `a`: `a` itself, a pool value or a new leaf that
  /// broadcasts with it, or a number.
  Operand partner(Value a) {
    double u = rng.uniform();
    if (u < 0.08) return a;
    if (u < 0.2) return Operand(isFloat(a.dtype()) ? double(float(rng.normal() * 2)) : double(pick(7) - 3));
    if (u < 0.55) {
      auto p = fromPool([&](const Node& n) { return n.type.dtype == a.dtype() && broadcasts(n.type.shape, a.shape()); });
      if (p) return *p;
    }
    return leaf({a.dtype(), broadcastable(a.shape())}, isFloat(a.dtype()) && chance(0.6));
  }
  static bool broadcasts(const Shape& x, const Shape& y) {
    for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
      int64_t dx = x[x.size() - 1 - i], dy = y[y.size() - 1 - i];
      if (dx != dy && dx != 1 && dy != 1) return false;
    }
    return true;
  }

  std::vector<int64_t> randomAxes(int64_t rank) {
    std::vector<int64_t> axes;
    for (int64_t a = 0; a < rank; ++a)
      if (chance(0.5)) axes.push_back(a);
    if (axes.empty() && rank > 0 && chance(0.7)) axes.push_back(pick(rank));
    return axes;
  }

  /// A unary op of the table, on an operand moved into the op's domain.
  void unary() {
    static const std::vector<Op> ops = [] {
      std::vector<Op> v;
      for (Op op : allOps())
        if (opInfo(op).cls == OpClass::Unary) v.push_back(op);
      return v;
    }();
    Op op = oneOf(ops);
    Value x = anyFloat();
    switch (opInfo(op).facts.domain) {
      case Domain::Positive: x = positive(x); break;
      case Domain::Moderate: x = x * 0.5; break;
      case Domain::AnyReal: case Domain::AwayFromKinks: break;
    }
    kiln::unary(op, x);
  }

  void binaryOp() {
    if (chance(0.1)) {  // random bits of i32 counters, often made a keep mask as dropout makes them
      Value a = intValue();
      Value bits = binary(Op::Philox, a, partner(a));
      if (chance(0.6)) ge(bits, double(pick(5) - 2) * 1e8);
      return;
    }
    static const std::vector<Op> ops = {Op::Add, Op::Sub, Op::Mul, Op::Div, Op::Max, Op::Min, Op::Pow};
    Op op = oneOf(ops);
    Value a = chance(0.15) ? intValue() : anyFloat();
    Operand c = partner(a);
    if (op == Op::Pow) {
      if (!isFloat(a.dtype())) return;
      Value base = positive(a);
      binary(op, base, c.isValue() ? Operand(tanh(c.value) * 2.0) : Operand(std::fmod(c.number, 3.0)));
      return;
    }
    if (op == Op::Div && isFloat(a.dtype())) c = c.isValue() ? Operand(awayFromZero(c.value)) : Operand(c.number + 3.0);
    binary(op, a, c);
  }

  /// An i32 value: an iota, a cast of a float, or a small input.
  Value intValue() {
    auto v = fromPool([](const Node& n) { return n.type.dtype == DType::I32; });
    if (v && chance(0.7)) return *v;
    if (chance(0.3)) return b.iota({DType::I32, randomShape(1 + int32_t(pick(3)))}, 0);
    return leaf({DType::I32, randomShape()}, false);
  }

  void compareSelect() {
    static const std::vector<Op> cmps = {Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge};
    Value a = chance(0.2) ? intValue() : anyFloat();
    Value cond = binary(oneOf(cmps), a, partner(a));
    if (chance(0.3)) return;  // a bool value in the pool
    Value x = anyFloat();
    select(cond, x, partner(x));
  }

  void castOp() {
    double u = rng.uniform();
    if (u < 0.35) cast(anyFloat(), DType::I32);
    else if (u < 0.55) cast(intValue(), ft);
    else if (u < 0.75) {
      auto c = fromPool([](const Node& n) { return n.type.dtype == DType::Bool; });
      cast(c ? *c : gt(anyFloat(), 0.0), chance(0.5) ? ft : DType::I32);
    } else cast(anyFloat(), ft == DType::F32 ? DType::F64 : DType::F32);
  }

  void movement() {
    Value x = chance(0.15) ? intValue() : anyFloat();
    Shape s = x.shape();
    int64_t r = x.rank();
    switch (pick(6)) {
      case 0: {  // reshape: the elements regrouped into a random rank
        Shape t;
        int64_t left = x.type().numel();
        for (int32_t i = 0, rank = int32_t(pick(opts.maxRank)); i < rank && left > 1; ++i) {
          std::vector<int64_t> divs;
          for (int64_t d = 1; d <= left; ++d)
            if (left % d == 0) divs.push_back(d);
          t.push_back(oneOf(divs));
          left /= t.back();
        }
        if (left != 1 || chance(0.5)) t.push_back(left);
        reshape(x, t);
        break;
      }
      case 1: {
        std::vector<int64_t> perm(static_cast<size_t>(r));
        std::iota(perm.begin(), perm.end(), 0);
        for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[size_t(pick(int64_t(i)))]);
        permute(x, perm);
        break;
      }
      case 2: {
        std::vector<int64_t> lo, hi;
        for (int64_t d : s) {
          int64_t a = pick(d + 1), c = pick(d + 1);
          lo.push_back(std::min(a, c));
          hi.push_back(std::max(a, c) + (chance(0.5) ? d - std::max(a, c) : 0));
        }
        slice(x, lo, hi);
        break;
      }
      case 3: {
        if (r == 0) return;
        int64_t axis = pick(r);
        Shape t = s;
        t[size_t(axis)] = randomDim();
        std::vector<Value> parts{x, chance(0.4) ? x : leaf({x.dtype(), t}, isFloat(x.dtype()) && chance(0.6))};
        if (chance(0.3)) parts.push_back(x);
        concat(parts, axis);
        break;
      }
      case 4: {
        std::vector<int64_t> lo, hi;
        for (int64_t i = 0; i < r; ++i) lo.push_back(pick(3)), hi.push_back(pick(3));
        pad(x, lo, hi, x.dtype() == DType::I32 ? double(pick(5) - 2) : double(float(rng.normal())));
        break;
      }
      default: {  // broadcast: a new leading dim, or 1-dims expanded
        Shape t = s;
        for (int64_t& d : t)
          if (d == 1 && chance(0.6)) d = 2 + pick(3);
        if (chance(0.5)) t.insert(t.begin(), 1 + pick(3));
        broadcastTo(x, t);
      }
    }
  }

  void reduction() {
    Value x = chance(0.1) ? intValue() : anyFloat();
    if (isFloat(x.dtype()) && x.rank() > 0 && chance(0.35)) return rowsPattern(x);
    std::vector<int64_t> axes = randomAxes(x.rank());
    bool keep = chance(0.5);
    double u = rng.uniform();
    Value r = u < 0.45 ? sum(x, axes, keep) : u < 0.8 ? reduceMax(x, axes, keep) : mean(x, axes, keep);
    if (chance(0.4) && keep) binary(chance(0.5) ? Op::Sub : Op::Div, x, isFloat(r.dtype()) && chance(0.5) ? Operand(awayFromZero(r)) : Operand(r));
  }

  /// What rows kernels are made of: a reduction over the innermost axis (kept or not), maps of the row
  /// with it, then perhaps a second row reduction and a total over every axis (kept or not).
  void rowsPattern(Value x) {
    int64_t last = x.rank() - 1;
    bool keep = chance(0.7);
    Value r = chance(0.5) ? reduceMax(x, {last}, keep) : sum(x, {last}, keep);
    if (!keep) r = reshape(r, [&] { Shape s = x.shape(); s.back() = 1; return s; }());
    Value y = chance(0.5) ? x - r : exp(x - reduceMax(x, {last}, true)) * (chance(0.5) ? Operand(r) : Operand(1.0));
    if (chance(0.4)) y = y / awayFromZero(sum(y, {last}, true));
    if (chance(0.6)) {
      std::vector<int64_t> all(static_cast<size_t>(x.rank()));
      std::iota(all.begin(), all.end(), 0);
      Value t = chance(0.5) ? sum(y, all, chance(0.5)) : reduceMax(y, all, chance(0.5));
      if (chance(0.5)) reshape(t, {}) * 0.5;
    }
  }

  void matmulOp() {
    Value a = anyFloat(2);
    Shape s = a.shape();
    bool ta = chance(0.3), tb = chance(0.3);
    size_t rk = s.size();
    int64_t k = s[rk - (ta ? 2 : 1)], n = 1 + pick(8);
    Shape bs(s.begin(), s.end() - 2);
    if (tb) bs.push_back(n), bs.push_back(k);
    else bs.push_back(k), bs.push_back(n);
    auto p = fromPool([&](const Node& nd) { return nd.type.shape == bs && nd.type.dtype == a.dtype(); });
    Value c = p && chance(0.5) ? *p : leaf({a.dtype(), bs}, chance(0.7));
    matmul(a, c, ta, tb);
  }

  void convOp() {
    Value x = anyFloat(4);
    if (x.rank() != 4) x = reshape(x, {1, 1, 1, x.type().numel()});
    std::vector<int64_t> stride{1 + pick(3), 1 + pick(3)}, padding{pick(3), pick(3)};
    Shape w{1 + pick(4), x.dim(1), 1 + pick(std::min<int64_t>(x.dim(2) + 2 * padding[0], 4)),
            1 + pick(std::min<int64_t>(x.dim(3) + 2 * padding[1], 4))};
    conv2d(x, leaf({x.dtype(), w}, chance(0.8)), stride, padding);
  }

  void poolOp() {
    Value x = anyFloat(4);
    if (x.rank() != 4) x = reshape(x, {1, 1, 1, x.type().numel()});
    int64_t k = 1 + pick(3), st = 1 + pick(3), p = pick(k / 2 + 1);
    if (chance(0.5)) maxPool2d(x, k, st, p);
    else avgPool2d(x, k, st, p);
  }

  void indexOp() {
    Value t = anyFloat(1);
    if (chance(0.5)) {
      if (t.dim(0) == 0) return;
      gather(t, leaf({DType::I32, randomShape(int32_t(pick(3)))}, false, 0, t.dim(0)));
      return;
    }
    int64_t rows = 1 + pick(5);
    Shape ts = t.shape(), idx(ts.begin(), ts.begin() + 1 + pick(std::min<int64_t>(t.rank(), 2)));
    scatterAdd(leaf({DType::I32, idx}, false, 0, rows), t, rows);
  }

  void composite() {
    Value x = anyFloat(1);
    switch (pick(6)) {
      case 0: softmax(x, -1 - pick(x.rank())); break;
      case 1: logSoftmax(x, -1 - pick(x.rank())); break;
      case 2: layerNorm(x, floatLeaf({x.dim(-1)}), floatLeaf({x.dim(-1)})); break;
      case 3: gelu(x); break;
      case 4: relu(x); break;
      default: {
        Value logits = x.rank() == 2 ? x : reshape(x, {1, x.type().numel()});
        if (logits.dim(1) == 0) return;
        crossEntropy(logits, leaf({DType::I32, {logits.dim(0)}}, false, 0, logits.dim(1)));
      }
    }
  }

  /// A gradient op on fresh inputs that no parameter reaches (the ops have no gradient rules).
  void gradientOp() {
    Shape x{1 + pick(2), 1 + pick(3), 1 + pick(6), 1 + pick(6)};
    if (chance(0.5)) {
      ConvAttrs a{{1 + pick(2), 1 + pick(2)}, {pick(2), pick(2)}, {}};
      Shape w{1 + pick(3), x[1], 1 + pick(std::min<int64_t>(x[2], 3)), 1 + pick(std::min<int64_t>(x[3], 3))};
      Shape y{x[0], w[0], (x[2] + 2 * a.padding[0] - w[2]) / a.stride[0] + 1, (x[3] + 2 * a.padding[1] - w[3]) / a.stride[1] + 1};
      Value gy = leaf({ft, y}, false);
      if (chance(0.5)) b.add(Op::Conv2dGradInput, {gy, leaf({ft, w}, false)}, a, Type{ft, x}, Site::current());
      else b.add(Op::Conv2dGradWeight, {leaf({ft, x}, false), gy}, a, Type{ft, w}, Site::current());
      return;
    }
    int64_t k = 1 + pick(3), st = 1 + pick(2), p = pick(k / 2 + 1);
    PoolAttrs a{{k, k}, {st, st}, {p, p}};
    Value xv = leaf({ft, x}, false);
    Value y = chance(0.5) ? maxPool2d(xv, k, st, p) : avgPool2d(xv, k, st, p);
    Value gy = leaf(y.type(), false);
    if (g()[y.id()].op == Op::MaxPool2d) b.add(Op::MaxPool2dGrad, {xv, gy}, a, Site::current());
    else b.add(Op::AvgPool2dGrad, {gy}, a, Type{ft, x}, Site::current());
  }

  void constantOp() {
    Shape s = randomShape(int32_t(pick(3)));
    std::vector<double> v(chance(0.5) ? 1 : size_t(numel(s)));
    for (double& e : v) e = double(float(rng.normal()));
    Value c = b.constant(v, {ft, s});
    Value x = anyFloat();
    if (broadcasts(x.shape(), s)) binary(chance(0.5) ? Op::Add : Op::Mul, x, c);
  }

  /// Which nodes `loss` depends on through differentiable edges.
  std::vector<bool> differentiablyReaching(NodeId loss) const {
    std::vector<bool> r(size_t(g().size()), false);
    if (!loss.valid()) return r;
    r[size_t(loss.v)] = true;
    for (int32_t i = loss.v; i >= 0; --i)
      if (r[size_t(i)])
        for (size_t k = 0; k < g().nodes()[size_t(i)].inputs.size(); ++k)
          if (nonDifferentiableReason(g(), NodeId{i}, k).empty()) r[size_t(g().nodes()[size_t(i)].inputs[k].v)] = true;
    return r;
  }

  const Graph& g() const { return b.graph(); }
  bool step();
  RandomProgram finish(uint64_t seed);
};

/// Draws one op and keeps it if acceptable (else the graph is as before); whether it was kept.
bool Generator::step() {
  Graph before = g();
  TensorMap feedsBefore = feeds;
  try {
    double u = rng.uniform() * 100;
    if (u < 14) unary();
    else if (u < 30) binaryOp();
    else if (u < 37) compareSelect();
    else if (u < 42) castOp();
    else if (u < 58) movement();
    else if (u < 68) reduction();
    else if (u < 75) matmulOp();
    else if (u < 79) convOp();
    else if (u < 83) poolOp();
    else if (u < 87) indexOp();
    else if (u < 94) composite();
    else if (u < 97) gradientOp();
    else constantOp();
    sync();
    if (trustworthyValues(g(), before.size(), vals, vals32, opts.maxElements)) return true;
  } catch (const Error&) {
  }
  b = Builder(before);
  feeds = feedsBefore;
  sync();
  return false;
}

/// The loss (every value no other node uses, each summed, weighted and added) and two intermediates as
/// outputs.
RandomProgram Generator::finish(uint64_t seed) {
  std::vector<bool> used(size_t(g().size()), false);
  for (const Node& n : g().nodes())
    for (NodeId in : n.inputs) used[size_t(in.v)] = true;
  Value loss;
  bool reachesParameter = false;
  for (int32_t i = 0, drawn = g().size(); i < drawn; ++i) {
    if (used[size_t(i)] || isNamedLeaf(g().nodes()[size_t(i)].op)) continue;
    Value v = b.at(NodeId{i});
    reachesParameter = reachesParameter || live[size_t(i)];
    if (v.dtype() != ft) v = cast(v, ft);
    std::vector<int64_t> all(size_t(v.rank()));
    std::iota(all.begin(), all.end(), 0);
    double w = double(float(0.25 + rng.uniform()));
    bool empty = v.type().numel() == 0;  // the mean of nothing is NaN
    bool keep = chance(0.3);
    Value term = chance(0.3) ? sum(v * v, all, keep) * (w * 0.1) : chance(0.5) || empty ? sum(v, all, keep) * w : mean(v, all, keep) * w;
    if (keep) term = reshape(term, {});
    loss = loss.id().valid() ? loss + term : term;
  }
  if (!reachesParameter) leaf({ft, randomShape(int32_t(pick(3)))}, true);
  // Every parameter the loss does not reach through differentiable ops gets a smooth term of its own.
  std::vector<bool> reach = differentiablyReaching(loss.id());
  for (NodeId p : g().nodesWithOp(Op::Parameter)) {
    if (p.v < int32_t(reach.size()) && reach[size_t(p.v)]) continue;
    Value v = b.at(p);
    std::vector<int64_t> all(size_t(v.rank()));
    std::iota(all.begin(), all.end(), 0);
    Value term = sum(tanh(v), all);
    if (term.dtype() != ft) term = cast(term, ft);
    loss = loss.id().valid() ? loss + term : term;
  }
  b.output("loss", loss);
  for (int32_t k = 0, tries = 0; k < 2 && tries < 20; ++tries) {
    NodeId id{int32_t(pick(int64_t(g().size())))};
    if (isNamedLeaf(g()[id].op) || id == loss.id()) continue;
    bool taken = false;
    for (const Output& o : g().outputs()) taken = taken || o.node == id;
    if (!taken) b.output(fmt::format("out{}", k++), b.at(id));
  }
  return {b.finish(), feeds, seed};
}

}  // namespace

RandomProgram randomProgram(uint64_t seed, const RandomProgramOptions& opts) {
  Generator gen(seed, opts);
  gen.sync();
  for (int32_t kept = 0, tries = 0; kept < opts.ops && tries < 4 * opts.ops; ++tries) kept += gen.step();
  return gen.finish(seed);
}

}  // namespace kiln
