// Finite-difference checks of autodiff, and the sweep of cases over the op table and the composites.
#include "compiler/GradCheck.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "ir/Builder.h"
#include "passes/Autodiff.h"

namespace kiln {

GradCheckResult gradCheck(const std::string& name, const Graph& g, const TensorMap& values, const std::string& loss) {
  Graph withGrads = autodiff(g, {loss, {}});
  TensorMap analytic = evaluate(withGrads, values, Precision::F64);
  GradCheckResult r{name, 0, 0, "", true};
  for (NodeId p : g.nodesWithOp(Op::Parameter)) {
    const std::string& leaf = leafName(g[p]);
    const HostTensor& grad = analytic.at(gradOutputName(leaf));
    TensorMap probe = values;
    HostTensor& x = probe.at(leaf);
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = x.data[size_t(i)], h = 1e-5 * std::max(1.0, std::fabs(orig));
      x.data[size_t(i)] = orig + h;
      double up = evaluate(g, probe, Precision::F64).at(loss).data[0];
      x.data[size_t(i)] = orig - h;
      double down = evaluate(g, probe, Precision::F64).at(loss).data[0];
      x.data[size_t(i)] = orig;
      double fd = (up - down) / (2 * h), ad = grad.data[size_t(i)];
      double err = std::fabs(ad - fd) / std::max({std::fabs(ad), std::fabs(fd), 1e-3});
      if (!std::isfinite(ad) || !std::isfinite(fd)) err = INFINITY;
      r.elements++;
      if (r.worst.empty() || err > r.maxRelError) {
        r.maxRelError = err;
        r.worst = fmt::format("{}[{}]: autodiff {:.10g}, finite difference {:.10g}", leaf, i, ad, fd);
      }
    }
  }
  r.pass = r.elements > 0 && r.maxRelError <= kGradCheckTolerance;
  return r;
}

namespace {

/// A case's values in domain `d` (ir/Ops.h): normal for any real (and moderate), uniform in [0.5, 2) when
/// positive, and away from kinks a shuffled ladder of distinct values away from 0 (no kinks, no ties).
HostTensor draw(const Shape& shape, Domain d, Rng& rng) {
  HostTensor t(DType::F32, shape);
  int64_t n = t.numel();
  if (d == Domain::AwayFromKinks) {  // a shuffled ladder: neighbours differ by >= 0.1, all |x| >= 0.05
    std::vector<double> ladder;
    for (int64_t i = 0; i < n; ++i) ladder.push_back(double(i - n / 2) * 0.1 + 0.05);
    for (int64_t i = n - 1; i > 0; --i) std::swap(ladder[size_t(i)], ladder[rng.next() % uint64_t(i + 1)]);
    t.data = ladder;
  } else {
    for (double& v : t.data) v = d == Domain::Positive ? 0.5 + 1.5 * rng.uniform() : rng.normal();
  }
  return t;
}

/// Builds one case: parameters (differentiated) and inputs (fixed), y = f(...), loss = sum(y * R) for a
/// fixed random R so that every element of y matters differently.
struct CaseBuilder {
  Builder b{"gradcheck"};
  TensorMap values;
  Rng rng{42};

  Value param(const std::string& name, const Shape& shape, Domain d = Domain::AnyReal) {
    values[name] = draw(shape, d, rng);
    return b.parameter(name, shape, Init::Zeros);
  }
  Value input(const std::string& name, const HostTensor& t) {
    values[name] = t;
    return b.input(name, t.type());
  }
  std::pair<Graph, TensorMap> finish(Value y) {
    Value r = b.constant(draw(y.shape(), Domain::AnyReal, rng).data, y.type());
    std::vector<int64_t> all;
    for (int64_t i = 0; i < y.rank(); ++i) all.push_back(i);
    b.output("loss", y.rank() ? sum(y * r, all) : y * r);
    return {b.finish(), values};
  }
};

using Make = std::function<Value(CaseBuilder&)>;

GradCheckCase make(std::string name, Make f) {
  return {name, [f] {
            CaseBuilder c;
            return c.finish(f(c));
          }};
}

std::vector<GradCheckCase> elementwiseCases() {
  std::vector<GradCheckCase> v;
  for (Op op : allOps())
    if (opInfo(op).cls == OpClass::Unary)
      v.push_back(make(std::string(opName(op)), [op](CaseBuilder& c) {
        return unary(op, c.param("x", {2, 3}, opInfo(op).facts.domain), Site::current());
      }));
  const std::pair<const char*, Op> binaries[] = {{"add", Op::Add}, {"sub", Op::Sub}, {"mul", Op::Mul},
                                                 {"div", Op::Div}, {"max", Op::Max}, {"min", Op::Min},
                                                 {"pow", Op::Pow}};
  for (auto [name, op] : binaries)
    v.push_back(make(name, [op = op](CaseBuilder& c) {
      bool ties = op == Op::Max || op == Op::Min;
      Value a = c.param("a", {2, 3}, ties ? Domain::AwayFromKinks : op == Op::Pow ? Domain::Positive : Domain::AnyReal);
      Value b = c.param("b", {2, 3}, op == Op::Div ? Domain::Positive : ties ? Domain::AwayFromKinks : Domain::AnyReal);
      if (ties)  // a's ladder is k/10 + 0.05; shifting b's by 0.025 means a[i] != b[i] everywhere
        for (double& x : c.values["b"].data) x += 0.025;
      return binary(op, a, b);
    }));
  v.push_back(make("select", [](CaseBuilder& c) {
    Value cond = cast(c.input("c", HostTensor(DType::I32, {2, 3}, {1, 0, 1, 1, 0, 0})), DType::Bool);
    return select(cond, c.param("a", {2, 3}), c.param("b", {2, 3}));
  }));
  v.push_back(make("cast", [](CaseBuilder& c) { return cast(cast(c.param("x", {3}), DType::F64) * 3.0, DType::F32); }));
  return v;
}

std::vector<GradCheckCase> structuralCases() {
  return {
      make("broadcast", [](CaseBuilder& c) { return broadcastTo(c.param("x", {3, 1}), {2, 3, 4}); }),
      make("reshape", [](CaseBuilder& c) { return reshape(c.param("x", {2, 6}), {3, 4}); }),
      make("permute", [](CaseBuilder& c) { return permute(c.param("x", {2, 3, 4}), {2, 0, 1}); }),
      make("slice", [](CaseBuilder& c) { return slice(c.param("x", {4, 5}), {1, 0}, {3, 4}); }),
      make("concat", [](CaseBuilder& c) { return concat({c.param("a", {2, 3}), c.param("b", {2, 1})}, 1); }),
      make("pad", [](CaseBuilder& c) { return pad(c.param("x", {2, 3}), {1, 0}, {0, 2}, 0.5); }),
      make("reduce_sum", [](CaseBuilder& c) { return sum(c.param("x", {2, 3, 4}), {0, 2}); }),
      make("reduce_max", [](CaseBuilder& c) { return reduceMax(c.param("x", {3, 4}, Domain::AwayFromKinks), {1}, true); }),
      make("matmul", [](CaseBuilder& c) { return matmul(c.param("a", {3, 4}), c.param("b", {4, 2})); }),
      make("matmul transpose_a", [](CaseBuilder& c) { return matmul(c.param("a", {4, 3}), c.param("b", {4, 2}), true, false); }),
      make("matmul transpose_b", [](CaseBuilder& c) { return matmul(c.param("a", {3, 4}), c.param("b", {2, 4}), false, true); }),
      make("matmul both, batched", [](CaseBuilder& c) { return matmul(c.param("a", {2, 4, 3}), c.param("b", {2, 2, 4}), true, true); }),
      make("conv2d stride 2 padding 1", [](CaseBuilder& c) {
        return conv2d(c.param("x", {2, 2, 5, 5}), c.param("w", {3, 2, 3, 3}), {2, 2}, {1, 1});
      }),
      make("max_pool2d", [](CaseBuilder& c) { return maxPool2d(c.param("x", {1, 2, 4, 4}, Domain::AwayFromKinks), 2, 2); }),
      make("max_pool2d overlapping, padded", [](CaseBuilder& c) {
        return maxPool2d(c.param("x", {1, 1, 4, 4}, Domain::AwayFromKinks), 3, 1, 1);
      }),
      make("avg_pool2d padded", [](CaseBuilder& c) { return avgPool2d(c.param("x", {1, 2, 4, 4}), 3, 2, 1); }),
      make("gather", [](CaseBuilder& c) {
        return gather(c.param("t", {5, 3}), c.input("i", HostTensor(DType::I32, {2, 3}, {4, 0, 4, 2, 1, 0})));
      }),
      make("scatter_add", [](CaseBuilder& c) {
        return scatterAdd(c.input("i", HostTensor(DType::I32, {4}, {1, 3, 1, 0})), c.param("s", {4, 2}), 5);
      }),
  };
}

std::vector<GradCheckCase> compositeCases() {
  return {
      make("relu", [](CaseBuilder& c) { return relu(c.param("x", {2, 4}, Domain::AwayFromKinks)); }),
      make("gelu", [](CaseBuilder& c) { return gelu(c.param("x", {2, 4})); }),
      make("softmax", [](CaseBuilder& c) { return softmax(c.param("x", {3, 5})); }),
      make("log_softmax", [](CaseBuilder& c) { return logSoftmax(c.param("x", {3, 5})); }),
      make("layernorm", [](CaseBuilder& c) {
        return layerNorm(c.param("x", {3, 6}), c.param("gamma", {6}), c.param("beta", {6}));
      }),
      make("linear", [](CaseBuilder& c) { return linear(c.param("x", {2, 3, 4}), c.param("w", {5, 4}), c.param("b", {5})); }),
      make("cross_entropy", [](CaseBuilder& c) {
        return crossEntropy(c.param("logits", {4, 5}), c.input("labels", HostTensor(DType::I32, {4}, {0, 4, 2, 2})));
      }),
      make("cross_entropy ignore_index", [](CaseBuilder& c) {
        return crossEntropy(c.param("logits", {4, 5}), c.input("labels", HostTensor(DType::I32, {4}, {0, -100, 2, -100})), -100);
      }),
      make("cross_entropy weighted", [](CaseBuilder& c) {
        return crossEntropy(c.param("logits", {3, 4}), c.input("labels", HostTensor(DType::I32, {3}, {3, 0, 1})),
                            c.param("w", {3}, Domain::Positive));
      }),
      make("dropout, fixed mask", [](CaseBuilder& c) {
        return dropout(c.param("x", {3, 5}), 0.4, c.input("step", HostTensor(DType::I32, {}, {3})), 2);
      }),
      make("mse", [](CaseBuilder& c) { return mse(c.param("a", {3, 4}), c.param("b", {3, 4})); }),
      make("causal_self_attention", [](CaseBuilder& c) {
        return causalSelfAttention(c.param("x", {1, 3, 4}), c.param("wqkv", {12, 4}), c.param("bqkv", {12}),
                                   c.param("wproj", {4, 4}), c.param("bproj", {4}), 2);
      }),
      make("cross_attention, key padding mask", [](CaseBuilder& c) {
        Value keep = cast(c.input("keep", HostTensor(DType::I32, {2, 5}, {1, 1, 1, 0, 0, 1, 1, 1, 1, 1})), DType::Bool);
        return attention(c.param("q", {2, 3, 4}), c.param("k", {2, 5, 4}), c.param("v", {2, 5, 4}), 2, {.causal = false, .keep = keep});
      }),
      make("causal attention, dropout on the probabilities (fixed mask)", [](CaseBuilder& c) {
        return attention(c.param("q", {1, 3, 4}), c.param("k", {1, 3, 4}), c.param("v", {1, 3, 4}), 2,
                         {.causal = true, .keep = {}, .dropout = 0.3, .step = c.input("step", HostTensor(DType::I32, {}, {2})), .stream = 1});
      }),
      make("attention causal, cache, key mask", [](CaseBuilder& c) {
        Value keep = cast(c.input("keep", HostTensor(DType::I32, {4}, {0, 1, 1, 1})), DType::Bool);
        return attention(c.param("q", {1, 2, 4}), c.param("k", {1, 4, 4}), c.param("v", {1, 4, 4}), 2, {.causal = true, .keep = keep});
      }),
  };
}

}  // namespace

const std::vector<GradCheckCase>& gradCheckCases() {
  static const std::vector<GradCheckCase> cases = [] {
    std::vector<GradCheckCase> all = elementwiseCases();
    for (auto& c : structuralCases()) all.push_back(c);
    for (auto& c : compositeCases()) all.push_back(c);
    return all;
  }();
  return cases;
}

}  // namespace kiln
