// Metamorphic tests: relations between runs that must hold whatever the exact values, each checked on the
// interpreter and on the JIT. Where the relation is exact in f32 arithmetic (a shift by an integer of
// numbers with few mantissa bits, a renaming) the check is bit for bit; where it reorders sums, within a
// stated tolerance relative to the largest magnitude of the result.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include "compiler/DiffTest.h"
#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "ir/Builder.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

/// The outputs of `g` on `feeds` from the engine `jit` (or the interpreter).
TensorMap runOn(bool jit, const Graph& g, const TensorMap& feeds) {
  return jit ? runCompiled(g, feeds, {true, std::string(KILN_BUILD_DIR) + "/kiln-cache"}) : evaluate(g, feeds);
}

/// Largest difference relative to the largest magnitude of `want`.
double scaled(const HostTensor& got, const HostTensor& want) {
  REQUIRE(got.data.size() == want.data.size());
  double scale = 1e-30, worst = 0;
  for (double v : want.data) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < got.data.size(); ++i) worst = std::max(worst, std::fabs(got.data[i] - want.data[i]));
  return worst / scale;
}

/// f32 values with few mantissa bits: multiples of 1/64 in [-4, 4], so that adding an integer is exact.
HostTensor coarse(Shape s, uint64_t seed) {
  Rng rng(seed);
  HostTensor t(DType::F32, s);
  for (double& v : t.data) v = std::round(std::clamp(rng.normal(), -4.0, 4.0) * 64) / 64;
  return t;
}

HostTensor gaussian(Shape s, uint64_t seed, double scale = 1) {
  Rng rng(seed);
  HostTensor t(DType::F32, s);
  for (double& v : t.data) v = double(float(scale * rng.normal()));
  return t;
}

}  // namespace

TEST_CASE("metamorphic: softmax and log-softmax do not change when each row is shifted") {
  Builder b("shift");
  Value x = b.input("x", {DType::F32, {6, 37}});
  b.output("softmax", softmax(x));
  b.output("log_softmax", logSoftmax(x));
  Graph g = b.finish();
  HostTensor x0 = coarse({6, 37}, 1), shifted = x0;
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 0; c < 37; ++c) shifted.data[size_t(r * 37 + c)] += double(r * 13 - 40);  // whole numbers: exact
  for (bool jit : {false, true}) {
    INFO((jit ? "jit" : "interpreter"));
    TensorMap a = runOn(jit, g, {{"x", x0}}), s = runOn(jit, g, {{"x", shifted}});
    CHECK(a.at("softmax").data == s.at("softmax").data);  // x - max(x) is the same numbers: bit for bit
    CHECK(a.at("log_softmax").data == s.at("log_softmax").data);
  }
}

TEST_CASE("metamorphic: attention without a mask is equivariant under a permutation of the sequence") {
  const int64_t T = 9, C = 16;
  Builder b("attention");
  Value x = b.input("x", {DType::F32, {T, C}});
  Value wq = b.input("wq", {DType::F32, {C, C}}), wk = b.input("wk", {DType::F32, {C, C}}), wv = b.input("wv", {DType::F32, {C, C}});
  Value scores = matmul(matmul(x, wq), matmul(x, wk), false, true) * (1.0 / std::sqrt(double(C)));
  b.output("y", matmul(softmax(scores), matmul(x, wv)));
  Graph g = b.finish();
  TensorMap feeds = {{"x", gaussian({T, C}, 2)}, {"wq", gaussian({C, C}, 3, 0.3)}, {"wk", gaussian({C, C}, 4, 0.3)},
                     {"wv", gaussian({C, C}, 5, 0.3)}};
  std::vector<int64_t> perm = {4, 0, 8, 2, 7, 1, 6, 3, 5};
  TensorMap permuted = feeds;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) permuted["x"].data[size_t(t * C + c)] = feeds["x"].data[size_t(perm[size_t(t)] * C + c)];
  for (bool jit : {false, true}) {
    INFO((jit ? "jit" : "interpreter"));
    HostTensor y = runOn(jit, g, feeds).at("y"), yp = runOn(jit, g, permuted).at("y"), expect = y;
    for (int64_t t = 0; t < T; ++t)  // row t of the permuted run is row perm[t] of the first
      for (int64_t c = 0; c < C; ++c) expect.data[size_t(t * C + c)] = y.data[size_t(perm[size_t(t)] * C + c)];
    CHECK(scaled(yp, expect) < 1e-6);
  }
}

TEST_CASE("metamorphic: matmul and conv2d are linear, f(a x + b y) = a f(x) + b f(y)") {
  Builder b("linearity");
  Value x = b.input("x", {DType::F32, {5, 24}}), y = b.input("y", {DType::F32, {5, 24}}), w = b.input("w", {DType::F32, {24, 7}});
  b.output("mm_mixed", matmul(x * 0.75 + y * -1.5, w));
  b.output("mm_apart", matmul(x, w) * 0.75 + matmul(y, w) * -1.5);
  Value u = b.input("u", {DType::F32, {2, 3, 9, 8}}), v = b.input("v", {DType::F32, {2, 3, 9, 8}}), k = b.input("k", {DType::F32, {4, 3, 3, 3}});
  b.output("conv_mixed", conv2d(u * 2.0 + v * 0.5, k, {2, 1}, {1, 1}));
  b.output("conv_apart", conv2d(u, k, {2, 1}, {1, 1}) * 2.0 + conv2d(v, k, {2, 1}, {1, 1}) * 0.5);
  Graph g = b.finish();
  TensorMap feeds = {{"x", gaussian({5, 24}, 6)}, {"y", gaussian({5, 24}, 7)}, {"w", gaussian({24, 7}, 8)},
                     {"u", gaussian({2, 3, 9, 8}, 9)}, {"v", gaussian({2, 3, 9, 8}, 10)}, {"k", gaussian({4, 3, 3, 3}, 11)}};
  for (bool jit : {false, true}) {
    INFO((jit ? "jit" : "interpreter"));
    TensorMap out = runOn(jit, g, feeds);
    CHECK(scaled(out.at("mm_mixed"), out.at("mm_apart")) < 1e-6);  // f32 sums of 24 and 27 terms, reordered
    CHECK(scaled(out.at("conv_mixed"), out.at("conv_apart")) < 1e-6);
  }
}

TEST_CASE("metamorphic: the mean loss of a batch does not change when the batch is permuted") {
  Builder b("batch");
  Value x = b.input("x", {DType::F32, {12, 20}});
  Value labels = b.input("labels", {DType::I32, {12}});
  Value w = b.input("w", {DType::F32, {8, 20}});
  b.output("loss", crossEntropy(relu(linear(x, w)), labels));
  Graph g = b.finish();
  TensorMap feeds = {{"x", gaussian({12, 20}, 12)}, {"w", gaussian({8, 20}, 13, 0.5)}, {"labels", HostTensor(DType::I32, {12})}};
  for (int64_t i = 0; i < 12; ++i) feeds["labels"].data[size_t(i)] = double(i * 5 % 8);
  std::vector<int64_t> perm(12);
  std::iota(perm.begin(), perm.end(), 0);
  std::reverse(perm.begin(), perm.begin() + 7);
  std::swap(perm[2], perm[10]);
  TensorMap permuted = feeds;
  for (int64_t r = 0; r < 12; ++r) {
    permuted["labels"].data[size_t(r)] = feeds["labels"].data[size_t(perm[size_t(r)])];
    for (int64_t c = 0; c < 20; ++c) permuted["x"].data[size_t(r * 20 + c)] = feeds["x"].data[size_t(perm[size_t(r)] * 20 + c)];
  }
  for (bool jit : {false, true}) {
    INFO((jit ? "jit" : "interpreter"));
    double a = runOn(jit, g, feeds).at("loss").data[0], p = runOn(jit, g, permuted).at("loss").data[0];
    CHECK(std::fabs(a - p) <= 1e-6 * std::fabs(a));  // a mean of 12 f32 terms in another order
  }
}

TEST_CASE("metamorphic: layernorm does not change under an affine map of its input, s x + t with s > 0") {
  Builder b("layernorm");
  Value x = b.input("x", {DType::F32, {4, 32}});
  Value gamma = b.input("gamma", {DType::F32, {32}}), beta = b.input("beta", {DType::F32, {32}});
  b.output("y", layerNorm(x, gamma, beta));
  Graph g = b.finish();
  TensorMap feeds = {{"x", gaussian({4, 32}, 14)}, {"gamma", gaussian({32}, 15)}, {"beta", gaussian({32}, 16)}};
  for (auto [s, t] : {std::pair{1.0, 3.0}, std::pair{4.0, -2.0}, std::pair{0.25, 0.5}}) {
    TensorMap moved = feeds;
    for (double& v : moved["x"].data) v = double(float(s * v + t));
    for (bool jit : {false, true}) {
      INFO((jit ? "jit" : "interpreter"), ", s ", s, ", t ", t);
      // Exact but for eps: (x - mean) / sqrt(var + eps / s^2) against eps; with the rows' variance above 1/2,
      // that moves the result by at most eps * |1/s^2 - 1| relatively; 1e-5 for the rounding of s x + t.
      CHECK(scaled(runOn(jit, g, moved).at("y"), runOn(jit, g, feeds).at("y")) < 1e-5 + 1e-5 * std::fabs(1 / (s * s) - 1));
    }
  }
}

TEST_CASE("metamorphic: the gradient of reduce_sum(x) is exactly ones, at any x") {
  Builder b("sum");
  Value x = b.parameter("x", {3, 5, 7}, Init::Normal, 1.0);
  b.output("loss", sum(x, {0, 1, 2}));
  Graph g = autodiff(b.finish());
  for (uint64_t seed : {1, 2}) {
    TensorMap feeds = initParameters(g, seed);
    for (bool jit : {false, true}) {
      INFO((jit ? "jit" : "interpreter"), ", seed ", seed);
      CHECK(runOn(jit, g, feeds).at(gradOutputName("x")).data == std::vector<double>(105, 1.0));
    }
  }
}

TEST_CASE("metamorphic: renaming the parameters changes no value of the MLP's forward pass or its gradients") {
  Graph forward = findModel("mlp").build(8);
  Graph program = autodiff(forward);
  std::string text = printGraph(program);
  std::vector<std::pair<std::string, std::string>> renames = {{"fc1.weight", "first/w"}, {"fc1.bias", "first/b"},
                                                              {"fc2.weight", "q"}, {"fc2.bias", "zz.bias"},
                                                              {"fc3.weight", "out.w"}, {"fc3.bias", "out.b"}};
  std::string renamed = text;
  for (const auto& [from, to] : renames) {
    for (std::string quoted : {"\"" + from + "\"", "\"grad/" + from + "\""}) {
      std::string with = quoted == "\"" + from + "\"" ? "\"" + to + "\"" : "\"grad/" + to + "\"";
      for (size_t at = renamed.find(quoted); at != std::string::npos; at = renamed.find(quoted, at + with.size()))
        renamed.replace(at, quoted.size(), with);
    }
  }
  REQUIRE(renamed != text);
  Graph other = parseKir(renamed, "renamed");
  TensorMap feeds = randomInputs(program, 3);
  for (auto& [name, t] : initParameters(program, 3)) feeds[name] = t;
  TensorMap otherFeeds;
  for (auto& [name, t] : feeds) {
    std::string n = name;
    for (const auto& [from, to] : renames)
      if (n == from) n = to;
    otherFeeds[n] = t;
  }
  for (bool jit : {false, true}) {
    INFO((jit ? "jit" : "interpreter"));
    TensorMap a = runOn(jit, program, feeds), r = runOn(jit, other, otherFeeds);
    CHECK(a.at("loss").data == r.at("loss").data);
    for (const auto& [from, to] : renames) CHECK(a.at(gradOutputName(from)).data == r.at(gradOutputName(to)).data);
  }
}

}  // namespace kiln
