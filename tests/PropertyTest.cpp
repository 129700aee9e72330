// Properties of composites and contractions, evaluated by the interpreter: softmax and layernorm
// invariants, matmul and conv2d against plain loops written here, zero-size tensors, attention causality,
// the partials of split reductions.
#include <doctest/doctest.h>

#include <cmath>

#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "ir/Builder.h"
#include "passes/SplitReductions.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

HostTensor randomTensor(Shape shape, uint64_t seed, double scale = 1.0) {
  HostTensor t(DType::F32, std::move(shape));
  Rng rng(seed);
  for (double& v : t.data) v = double(float(scale * rng.normal()));
  return t;
}

/// Evaluates the single output "y" of a graph built by `f` from inputs named a, b.
template <class F>
HostTensor evalWith(const TensorMap& feeds, F&& f, Precision p = Precision::Declared) {
  Builder b("t");
  std::vector<Value> ins;
  for (const auto& [name, t] : feeds) ins.push_back(b.input(name, t.type()));
  b.output("y", f(b, ins));
  return evaluate(b.finish(), feeds, p).at("y");
}

}  // namespace

TEST_CASE("softmax rows sum to one and stay finite at +-1000") {
  HostTensor x = test::tensor(DType::F32, {3, 4}, {1000, -1000, 999, 0, -1000, -1000, -1000, -1000, 1, 2, 3, 4});
  HostTensor y = evalWith({{"a", x}}, [](Builder&, auto& in) { return softmax(in[0], -1); });
  for (int r = 0; r < 3; ++r) {
    double s = 0;
    for (int c = 0; c < 4; ++c) {
      double v = y.data[size_t(r * 4 + c)];
      CHECK(std::isfinite(v));
      CHECK(v >= 0);
      s += v;
    }
    CHECK(s == doctest::Approx(1.0).epsilon(1e-6));
  }
  CHECK(y.data[0] == doctest::Approx(1 / (1 + std::exp(-1.0))).epsilon(1e-6));
  CHECK(y.data[4] == doctest::Approx(0.25));  // equal logits: uniform
  HostTensor ls = evalWith({{"a", x}}, [](Builder&, auto& in) { return logSoftmax(in[0], -1); });
  for (double v : ls.data) CHECK(std::isfinite(v));
  for (size_t i = 0; i < ls.data.size(); ++i) CHECK(std::exp(ls.data[i]) == doctest::Approx(y.data[i]).epsilon(1e-5));
}

TEST_CASE("layernorm gives mean 0 and variance 1 per row") {
  HostTensor x = randomTensor({4, 64}, 7, 5.0);
  HostTensor y = evalWith({{"a", x}}, [](Builder& b, auto& in) {
    Value g = b.constant({1.0}, {DType::F32, {64}}), z = b.constant({0.0}, {DType::F32, {64}});
    return layerNorm(in[0], g, z, 1e-5);
  });
  for (int r = 0; r < 4; ++r) {
    double m = 0, v = 0;
    for (int c = 0; c < 64; ++c) m += y.data[size_t(r * 64 + c)] / 64;
    for (int c = 0; c < 64; ++c) v += std::pow(y.data[size_t(r * 64 + c)] - m, 2) / 64;
    CHECK(std::fabs(m) < 1e-6);
    CHECK(v == doctest::Approx(1.0).epsilon(1e-4));
  }
}

TEST_CASE("matmul agrees with plain loops for every transpose and batch") {
  const int64_t B = 2, M = 3, K = 5, N = 4;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      HostTensor a = randomTensor(ta ? Shape{B, K, M} : Shape{B, M, K}, 1);
      HostTensor bt = randomTensor(tb ? Shape{B, N, K} : Shape{B, K, N}, 2);
      HostTensor y = evalWith({{"a", a}, {"b", bt}}, [&](Builder&, auto& in) { return matmul(in[0], in[1], ta, tb); },
                              Precision::F64);
      std::vector<double> want;
      for (int64_t bb = 0; bb < B; ++bb)
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) {
              double av = ta ? a.data[size_t((bb * K + k) * M + i)] : a.data[size_t((bb * M + i) * K + k)];
              double bv = tb ? bt.data[size_t((bb * N + j) * K + k)] : bt.data[size_t((bb * K + k) * N + j)];
              s += av * bv;
            }
            want.push_back(s);
          }
      INFO("transpose_a=", ta, " transpose_b=", tb);
      CHECK(test::maxRelError(y.data, want) < 1e-12);
    }
}

TEST_CASE("conv2d agrees with plain loops, with stride and padding") {
  const int64_t N = 2, C = 3, H = 7, W = 6, O = 4, KH = 3, KW = 2, S = 2, P = 1;
  HostTensor x = randomTensor({N, C, H, W}, 3), w = randomTensor({O, C, KH, KW}, 4);
  HostTensor y = evalWith({{"a", x}, {"b", w}}, [&](Builder&, auto& in) { return conv2d(in[0], in[1], {S, S}, {P, P}); },
                          Precision::F64);
  int64_t OH = (H + 2 * P - KH) / S + 1, OW = (W + 2 * P - KW) / S + 1;
  REQUIRE(y.shape == Shape{N, O, OH, OW});
  std::vector<double> want;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double s = 0;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                int64_t h = oh * S - P + i, ww = ow * S - P + j;
                if (h >= 0 && h < H && ww >= 0 && ww < W)
                  s += x.data[size_t(((n * C + c) * H + h) * W + ww)] * w.data[size_t(((o * C + c) * KH + i) * KW + j)];
              }
          want.push_back(s);
        }
  CHECK(test::maxRelError(y.data, want) < 1e-12);
}

TEST_CASE("split reductions: each partial reduces its own run of rows or samples, and the split graph computes the same") {
  HostTensor x = randomTensor({13, 6, 5}, 5), img = randomTensor({5, 2, 6, 6}, 6), w = randomTensor({3, 2, 3, 3}, 7);
  int64_t runs = 5, samples = 5, convRuns = 3;
  HostTensor parts = evalWith({{"a", x}}, [&](Builder& b, auto& in) {
    return b.add(Op::ReduceSum, {in[0]}, ReduceAttrs{{0, 2}, false, {runs}}, Site::current());
  }, Precision::F64);
  REQUIRE(parts.shape == Shape{runs, 6});
  auto gy = [&](Builder&, auto& in) { return conv2d(in[0], in[1], {1, 1}, {1, 0}); };
  HostTensor gyAll = evalWith({{"a", img}, {"b", w}}, gy);
  HostTensor dw = evalWith({{"a", img}, {"c", gyAll}}, [&](Builder& b, auto& in) {
    return b.add(Op::Conv2dGradWeight, {in[0], in[1]}, ConvAttrs{{1, 1}, {1, 0}, {convRuns}}, {DType::F32, {3, 3, 2, 3, 3}},
                 Site::current());
  }, Precision::F64);
  for (int64_t gi = 0; gi < runs; ++gi) {  // rows [13g/5, 13(g+1)/5): 0-1, 2-4, 5-6, 7-9, 10-12
    HostTensor want = evalWith({{"a", x}}, [&](Builder&, auto& in) {
      return sum(sliceAxis(in[0], 0, groupBegin(gi, 13, runs), groupBegin(gi + 1, 13, runs)), {0, 2});
    }, Precision::F64);
    CHECK(test::maxRelError(std::vector<double>(parts.data.begin() + gi * 6, parts.data.begin() + (gi + 1) * 6), want.data) < 1e-12);
  }
  for (int64_t gi = 0; gi < convRuns; ++gi) {
    int64_t lo = groupBegin(gi, samples, convRuns), hi = groupBegin(gi + 1, samples, convRuns);
    HostTensor want = evalWith({{"a", img}, {"c", gyAll}}, [&](Builder& b, auto& in) {
      return b.add(Op::Conv2dGradWeight, {sliceAxis(in[0], 0, lo, hi), sliceAxis(in[1], 0, lo, hi)}, ConvAttrs{{1, 1}, {1, 0}, {}},
                   {DType::F32, {3, 2, 3, 3}}, Site::current());
    }, Precision::F64);
    CHECK(test::maxRelError(std::vector<double>(dw.data.begin() + gi * 54, dw.data.begin() + (gi + 1) * 54), want.data) < 1e-12);
  }
  Builder b("split");  // a conv bias gradient's shape, large enough to be split
  Value big = b.input("g", {DType::F32, {8, 4, 32, 32}});
  b.output("db", sum(big, {0, 2, 3}));
  b.output("peak", reduceMax(big, {0, 1, 2, 3}, true));
  Graph g = b.finish(), split = splitReductions(g);
  int64_t grouped = 0;
  for (const Node& n : split.nodes())
    if (n.op == Op::ReduceSum || n.op == Op::ReduceMax) grouped += std::get<ReduceAttrs>(n.attrs).groups.n > 1;
  CHECK(grouped == 2);
  TensorMap feeds{{"g", randomTensor({8, 4, 32, 32}, 8)}};
  TensorMap whole = evaluate(g, feeds, Precision::F64), parted = evaluate(split, feeds, Precision::F64);
  CHECK(test::maxRelError(parted.at("db").data, whole.at("db").data) < 1e-12);
  CHECK(parted.at("peak").data == whole.at("peak").data);
}

TEST_CASE("zero-size tensors evaluate where they make sense") {
  HostTensor e(DType::F32, {0, 3});
  CHECK(evalWith({{"a", e}}, [](Builder&, auto& in) { return exp(in[0]) + in[0]; }).data.empty());
  HostTensor s = evalWith({{"a", e}}, [](Builder&, auto& in) { return sum(in[0], {0}); });
  CHECK(s.data == std::vector<double>{0, 0, 0});  // a sum over nothing is zero
  HostTensor k0(DType::F32, {2, 0});
  HostTensor k0b(DType::F32, {0, 3});
  HostTensor mm = evalWith({{"a", k0}, {"b", k0b}}, [](Builder&, auto& in) { return matmul(in[0], in[1]); });
  CHECK(mm.data == std::vector<double>(6, 0.0));  // K = 0
  HostTensor c = evalWith({{"a", e}, {"b", test::tensor(DType::F32, {1, 3}, {1, 2, 3})}},
                          [](Builder&, auto& in) { return concat({in[0], in[1]}, 0); });
  CHECK(c.data == std::vector<double>{1, 2, 3});
}

TEST_CASE("gelu, cross-entropy and mse match their definitions") {
  HostTensor x = test::tensor(DType::F32, {3}, {-1, 0, 2});
  HostTensor g = evalWith({{"a", x}}, [](Builder&, auto& in) { return gelu(in[0]); }, Precision::F64);
  for (int i = 0; i < 3; ++i) {
    double v = x.data[size_t(i)];
    CHECK(g.data[size_t(i)] == doctest::Approx(0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))).epsilon(1e-12));
  }
  HostTensor logits = test::tensor(DType::F32, {2, 3}, {1, 2, 3, 0, 0, 0});
  HostTensor labels = test::tensor(DType::I32, {2}, {2, 1});
  HostTensor ce = evalWith({{"a", logits}, {"b", labels}}, [](Builder&, auto& in) { return crossEntropy(in[0], in[1]); },
                           Precision::F64);
  double l0 = -(3 - std::log(std::exp(1) + std::exp(2) + std::exp(3))), l1 = std::log(3.0);
  CHECK(ce.data[0] == doctest::Approx((l0 + l1) / 2).epsilon(1e-12));
  HostTensor m = evalWith({{"a", x}, {"b", test::tensor(DType::F32, {3}, {0, 0, 0})}},
                          [](Builder&, auto& in) { return mse(in[0], in[1]); }, Precision::F64);
  CHECK(m.data[0] == doctest::Approx(5.0 / 3.0));
}

TEST_CASE("causal attention: an early position ignores later ones") {
  const int64_t T = 5, C = 8;
  HostTensor x = randomTensor({1, T, C}, 11);
  // Real weights, random but fixed: feed them as inputs.
  HostTensor wqkv = randomTensor({3 * C, C}, 12, 0.3), wp = randomTensor({C, C}, 13, 0.3);
  HostTensor bq = randomTensor({3 * C}, 14, 0.1), bp = randomTensor({C}, 15, 0.1);
  auto run = [&](const HostTensor& xin) {
    TensorMap f = {{"a", xin}, {"b", wqkv}, {"c", bq}, {"d", wp}, {"e", bp}};
    return evalWith(f, [](Builder&, auto& in) { return causalSelfAttention(in[0], in[1], in[2], in[3], in[4], 2); },
                    Precision::F64);
  };
  HostTensor y1 = run(x);
  HostTensor x2 = x;
  for (int64_t c = 0; c < C; ++c) x2.data[size_t((T - 1) * C + c)] += 1.0;  // change the last position only
  HostTensor y2 = run(x2);
  for (int64_t t = 0; t < T - 1; ++t)
    for (int64_t c = 0; c < C; ++c) CHECK(y1.data[size_t(t * C + c)] == y2.data[size_t(t * C + c)]);
  bool lastChanged = false;
  for (int64_t c = 0; c < C; ++c) lastChanged |= y1.data[size_t((T - 1) * C + c)] != y2.data[size_t((T - 1) * C + c)];
  CHECK(lastChanged);
}

TEST_CASE("cross-entropy with an ignore index: the mean over the rows it keeps, NaN when it keeps none") {
  HostTensor logits = test::tensor(DType::F32, {3, 3}, {1, 2, 3, 0, 0, 0, 5, -1, 2});
  auto ce = [&](std::vector<double> labels) {
    TensorMap f{{"a", logits}, {"b", test::tensor(DType::I32, {3}, labels)}};
    return evalWith(f, [](Builder&, auto& in) { return crossEntropy(in[0], in[1], -100); }, Precision::F64).data[0];
  };
  double l0 = -(3 - std::log(std::exp(1) + std::exp(2) + std::exp(3))), l1 = std::log(3.0);
  CHECK(ce({2, 1, -100}) == doctest::Approx((l0 + l1) / 2).epsilon(1e-12));
  CHECK(ce({-100, 1, -100}) == doctest::Approx(l1).epsilon(1e-12));
  CHECK(std::isnan(ce({-100, -100, -100})));
}

TEST_CASE("attention: a key the mask hides changes nothing, and a causal query over a cache sees its prefix") {
  HostTensor q = randomTensor({2, 3, 4}, 21), k = randomTensor({2, 5, 4}, 22), v = randomTensor({2, 5, 4}, 23);
  HostTensor keep = test::tensor(DType::Bool, {2, 5}, {1, 1, 1, 0, 0, 1, 1, 1, 1, 1});
  auto run = [&](const HostTensor& kk, const HostTensor& vv, bool causal) {
    TensorMap f{{"a", q}, {"b", kk}, {"c", vv}, {"d", keep}};
    return evalWith(f, [causal](Builder&, auto& in) {
      return attention(in[0], in[1], in[2], 2, {.causal = causal, .keep = in[3]});
    }, Precision::F64);
  };
  HostTensor y = run(k, v, false);
  HostTensor k2 = k, v2 = v;
  for (int64_t i = 3 * 4; i < 5 * 4; ++i) k2.data[size_t(i)] += 3, v2.data[size_t(i)] -= 2;  // sample 0, keys 3 and 4
  HostTensor y2 = run(k2, v2, false);
  for (size_t i = 0; i < 12; ++i) CHECK(y2.data[i] == y.data[i]);  // sample 0 never sees them
  bool changed = false;
  for (size_t i = 0; i < 12; ++i) k2.data[i + 20] += 1;  // sample 1, keys 0 to 2: visible
  HostTensor y3 = run(k2, v2, false);
  for (size_t i = 12; i < 24; ++i) changed |= y3.data[i] != y.data[i];
  CHECK(changed);
  // Causal with 3 queries over 5 keys: query 0 sees keys 0..2; changing key 3 of sample 1 leaves it alone.
  HostTensor c1 = run(k, v, true), k4 = k;
  for (size_t i = 20 + 12; i < 20 + 16; ++i) k4.data[i] += 5;
  HostTensor c2 = run(k4, v, true);
  for (size_t i = 12; i < 16; ++i) CHECK(c2.data[i] == c1.data[i]);
  bool later = false;
  for (size_t i = 16; i < 24; ++i) later |= c2.data[i] != c1.data[i];
  CHECK(later);
  CHECK_THROWS_WITH_AS(run(k, randomTensor({2, 4, 4}, 1), false), doctest::Contains("attention: expects q [B, Tq, C]"), Error);
}

}  // namespace kiln
