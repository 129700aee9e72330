// Dropout: its masks keep 1 - p of the elements and scale them by 1 / (1 - p), are fixed by the step
// counter, the stream and the element (the same bits in the interpreter and the JIT, at any thread count),
// and change with each; a model with dropout advances its counter every step and evaluates without it.
#include <doctest/doctest.h>

#include <cmath>

#include "compiler/InterpSession.h"
#include "compiler/Interpreter.h"
#include "compiler/Pipeline.h"
#include "ir/Builder.h"
#include "ir/Error.h"
#include "models/Models.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

/// dropout(ones [64, 300], p, step, stream): the mask, scaled.
Graph dropoutGraph(double p, int64_t stream) {
  Builder b("dropout");
  Value x = b.input("x", {DType::F32, {64, 300}});
  Value step = b.input("step", {DType::I32, {}});
  b.output("y", dropout(x, p, step, stream));
  return b.finish();
}

TensorMap feeds(int32_t step) {
  HostTensor x(DType::F32, {64, 300});
  for (double& v : x.data) v = 1.0;
  return {{"x", x}, {"step", test::tensor(DType::I32, {}, {double(step)})}};
}

}  // namespace

TEST_CASE("dropout: keeps 1 - p of the elements, scaled by 1 / (1 - p), the same in the interpreter and the JIT") {
  for (double p : {0.1, 0.5, 0.9}) {
    INFO("p = ", p);
    Graph g = dropoutGraph(p, 3);
    HostTensor y = evaluate(g, feeds(7)).at("y");
    int64_t kept = 0, wrong = 0;
    for (double v : y.data) {
      kept += v != 0;
      wrong += v != 0 && std::fabs(v - 1 / (1 - p)) > 1e-6;
    }
    CHECK(wrong == 0);
    double rate = double(kept) / double(y.data.size());
    CHECK(std::fabs(rate - (1 - p)) < 0.01);  // 19200 draws: 3 standard deviations are under 0.011
    for (int threads : {1, 3}) {
      CompileOptions o = test::cachedOptions();
      o.threads = threads, o.finestChunks = true;
      std::unique_ptr<JitSession> s = compileSession(g, 0, o);
      HostTensor jit = fromStored(s->run(toStored(feeds(7))).at("y"), "y");
      CHECK(jit.data == y.data);
    }
  }
}

TEST_CASE("dropout: the mask changes with the step and the stream, and is fixed by them") {
  Graph g = dropoutGraph(0.5, 0), other = dropoutGraph(0.5, 1);
  HostTensor a = evaluate(g, feeds(1)).at("y"), again = evaluate(g, feeds(1)).at("y");
  HostTensor next = evaluate(g, feeds(2)).at("y"), stream = evaluate(other, feeds(1)).at("y");
  CHECK(a.data == again.data);
  int64_t differStep = 0, differStream = 0;
  for (size_t i = 0; i < a.data.size(); ++i) differStep += a.data[i] != next.data[i], differStream += a.data[i] != stream.data[i];
  CHECK(std::fabs(double(differStep) / double(a.data.size()) - 0.5) < 0.02);  // independent masks differ half the time
  CHECK(std::fabs(double(differStream) / double(a.data.size()) - 0.5) < 0.02);
  Builder b("bad");
  Value x = b.input("x", {DType::F32, {4}});
  Value step = b.input("step", {DType::I32, {}});
  CHECK(dropout(x, 0.0, step, 0).id() == x.id());
  CHECK_THROWS_WITH_AS(dropout(x, 1.0, step, 0), doctest::Contains("dropout: p must be in [0, 1), got 1"), Error);
  CHECK_THROWS_WITH_AS(dropout(x, 0.5, x, 0), doctest::Contains("the step counter must be i32[], got f32[4]"), Error);
}

TEST_CASE("dropout on the attention probabilities: each output is the mean of v over the keys its mask keeps") {
  // q = k = 0: every probability is 1/Tk, so with v = ones each output element of head h at query t is
  // (the kept probabilities of row [b, h, t]) / (Tk (1 - p)), the mask that dropout draws on a [B, H, Tq, Tk].
  const int64_t B = 2, T = 6, C = 8, H = 2;
  const double p = 0.5;
  Builder b("attention dropout");
  Value zero = b.input("zero", {DType::F32, {B, T, C}});
  Value v = b.input("v", {DType::F32, {B, T, C}});
  Value step = b.input("step", {DType::I32, {}});
  Value probs = b.input("probs", {DType::F32, {B, H, T, T}});
  b.output("y", attention(zero, zero, v, H, {.causal = false, .keep = {}, .dropout = p, .step = step, .stream = 5}));
  b.output("mask", dropout(probs, p, step, 5));
  Graph g = b.finish();
  HostTensor ones(DType::F32, {B, T, C}), onesP(DType::F32, {B, H, T, T});
  for (double& x : ones.data) x = 1.0;
  for (double& x : onesP.data) x = 1.0;
  TensorMap out = evaluate(g, {{"zero", HostTensor(DType::F32, {B, T, C})}, {"v", ones}, {"probs", onesP},
                               {"step", test::tensor(DType::I32, {}, {4})}});
  const HostTensor &y = out.at("y"), &mask = out.at("mask");
  int64_t dropped = 0;
  for (int64_t bi = 0; bi < B; ++bi)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        double kept = 0;
        for (int64_t j = 0; j < T; ++j) kept += mask.data[size_t(((bi * H + h) * T + t) * T + j)];
        dropped += kept < double(T) / (1 - p) - 1e-9;
        for (int64_t d = 0; d < C / H; ++d)
          CHECK(y.data[size_t((bi * T + t) * C + h * (C / H) + d)] == doctest::Approx(kept / double(T)).epsilon(1e-6));
      }
  CHECK(dropped > 0);  // the rows are not all kept
}

TEST_CASE("dropout in a model: the GPT's step advances its counter, and the evaluation program has none") {
  const ModelSpec& gpt = findModel("gpt");
  Graph on = gpt.build(2, gpt.configure("layers=1,width=32,heads=2,seq=8,dropout=10"));
  Graph off = gpt.build(2, gpt.configure("layers=1,width=32,heads=2,seq=8"));
  CHECK(on.findLeaf("dropout.step"));
  CHECK_FALSE(off.findLeaf("dropout.step"));
  CHECK(on.nodesWithOp(Op::Philox).size() == 4);  // the embeddings, the block's two branches and its probabilities
  CHECK(off.nodesWithOp(Op::Philox).empty());
  InterpSession s(on, 0);
  TensorMap batch{{"tokens", HostTensor(DType::I32, {2, 8})}, {"targets", HostTensor(DType::I32, {2, 8})}};
  double first = InterpSession::loss(s.step(batch)), second = InterpSession::loss(s.step(batch));  // forward only: weights stay
  CHECK(s.get("dropout.step").data.at(0) == 2);
  CHECK(first != second);  // other masks, so another loss on the same batch and weights
  CHECK_THROWS_WITH_AS(gpt.configure("dropout=100").at("dropout", 0, 99), doctest::Contains("dropout=100 must be in [0, 99]"), Error);
}

}  // namespace kiln
