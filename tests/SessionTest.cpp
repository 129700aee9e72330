// Sessions of both engines behind one interface (runtime/Session.h): forward-only programs run, a
// non-finite loss is a typed error that leaves the parameters, and a checkpoint of either engine loads
// into the other, under one contract (runtime/Checkpoint.h).
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "compiler/HostTensor.h"
#include "compiler/InterpSession.h"
#include "compiler/Pipeline.h"
#include "ir/Builder.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"
#include "runtime/Checkpoint.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

/// loss = sum((x * w - t)^2) with an SGD update of w; and the forward y = x * w alone.
Graph program(bool train) {
  Builder b("session");
  Value x = b.input("x", {DType::F32, {3}}), w = b.parameter("w", {3}, Init::Ones);
  Value y = x * w;
  if (!train) {
    b.output("y", y);
    return b.finish();
  }
  Value d = y - b.input("t", {DType::F32, {3}});
  b.output("loss", sum(d * d, {0}));
  OptimizerOptions o;
  o.lr = 0.1;
  return addOptimizer(autodiff(b.finish()), o);
}

std::vector<std::unique_ptr<Session>> bothEngines(const Graph& g) {
  std::vector<std::unique_ptr<Session>> s;
  s.push_back(std::make_unique<InterpSession>(g, 0));
  s.push_back(compileSession(g, 0, CompileOptions{true, std::string(KILN_BUILD_DIR) + "/kiln-cache"}));
  return s;
}

TensorFile batch(double x0) {
  return toStored(TensorMap{{"x", test::tensor(DType::F32, {3}, {x0, 2, 3})}, {"t", test::tensor(DType::F32, {3}, {0, 0, 0})}});
}

}  // namespace

TEST_CASE("sessions: a program without a loss runs on either engine, and step says it has no loss") {
  for (auto& s : bothEngines(program(false))) {
    CHECK(!s->hasLoss());
    TensorFile out = s->run(toStored(TensorMap{{"x", test::tensor(DType::F32, {3}, {1, 2, 3})}}));
    CHECK(fromStored(out.at("y"), "y").data == std::vector<double>{1, 2, 3});
    CHECK(s->steps() == 1);
    CHECK_THROWS_WITH_AS(s->step({}), doctest::Contains("has no float scalar output \"loss\""), Error);
  }
}

TEST_CASE("sessions: a non-finite loss is a NonFiniteLoss with its step and value, and nothing changes") {
  for (auto& s : bothEngines(program(true))) {
    CHECK(s->hasLoss());
    double first = s->step(batch(1));
    CHECK(first == doctest::Approx(14));  // (1 + 4 + 9) with w = 1
    TensorFile before = s->state();
    try {
      s->step(batch(NAN));
      FAIL("expected NonFiniteLoss");
    } catch (const NonFiniteLoss& e) {
      CHECK(e.step() == 1);
      CHECK(std::isnan(e.loss()));
      CHECK(std::string(e.what()).find("step 1: the loss is nan") != std::string::npos);
    }
    CHECK(fromStored(s->state().at("w"), "w").data == fromStored(before.at("w"), "w").data);
  }
}

TEST_CASE("sessions: one checkpoint contract, and each engine's checkpoint resumes on the other") {
  std::string dir = test::tempDir("session-ckpt");
  auto engines = bothEngines(program(true));
  for (int i = 0; i < 3; ++i) engines[0]->step(batch(1));
  engines[0]->save(dir + "/interp.safetensors");
  engines[1]->load(dir + "/interp.safetensors");
  CHECK(engines[1]->step(batch(1)) == doctest::Approx(engines[0]->step(batch(1))).epsilon(1e-6));
  engines[1]->save(dir + "/jit.safetensors");
  engines[0]->load(dir + "/jit.safetensors");
  CHECK(fromStored(engines[0]->state().at("w"), "w").data[2] ==
        doctest::Approx(fromStored(engines[1]->state().at("w"), "w").data[2]).epsilon(1e-6));
  // A checkpoint that does not fit is refused by both, naming the tensor, and changes nothing.
  TensorFile bad = engines[0]->state();
  bad["w"] = toStored(test::tensor(DType::F32, {2}, {0, 0}));
  saveCheckpoint(dir + "/bad.safetensors", bad);
  for (auto& s : engines) {
    TensorFile before = s->state();
    CHECK_THROWS_WITH_AS(s->load(dir + "/bad.safetensors"), doctest::Contains("checkpoint tensor \"w\" is F32 [2], expected F32 [3]"), Error);
    CHECK(fromStored(s->state().at("w"), "w").data == fromStored(before.at("w"), "w").data);
  }
}

TEST_CASE("kiln dump: the pipeline through plan-memory, printed and verified after every stage") {
  std::string kir = "kiln 1\n%0 = input {name=\"a\"} : f32[4]\n%1 = exp %0 : f32[4]\n%2 = neg %1 : f32[4]\noutput \"y\" = %2\n";
  test::CliResult r = test::runKiln("dump - --passes=simplify,fuse,plan-memory --print-after-all --verify-each", kir);
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("# after fuse\n# 1 kernels for") != std::string::npos);
  CHECK(r.out.find("# after plan-memory\n# peak ") != std::string::npos);
  CHECK(test::runKiln("dump - --passes=fuse", kir).out.rfind("# 1 kernels for", 0) == 0);  // the last stage's result
  CHECK(test::runKiln("dump - --passes=fuse,plan-memory --json", kir).out.find("\"peak_bytes\"") != std::string::npos);
  test::CliResult bad = test::runKiln("dump - --passes=plan-memory", kir);
  CHECK(bad.status == 1);
  CHECK(bad.err.find("plan-memory needs a schedule: run fuse (or unfused) before it") != std::string::npos);
}

}  // namespace kiln

namespace kiln {

TEST_CASE("sessions: the loss is whichever float scalar output the session trains on") {
  Builder b("objective");
  Value x = b.input("x", {DType::F32, {3}}), w = b.parameter("w", {3}, Init::Ones);
  b.output("objective", sum(x * w * (x * w), {0}));
  b.output("y", x * w);
  OptimizerOptions o;
  o.lr = 0.1;
  Graph g = addOptimizer(autodiff(b.finish(), {"objective", {}}), o);
  for (auto& s : bothEngines(g)) {
    CHECK(!s->hasLoss());
    CHECK_THROWS_WITH_AS(s->trainOn("y"), "error: session: the program has no float scalar output \"y\"", Error);
    s->trainOn("objective");
    CHECK(s->lossName() == "objective");
    CHECK(s->step(toStored(TensorMap{{"x", test::tensor(DType::F32, {3}, {1, 2, 3})}})) == doctest::Approx(14));
    CHECK_THROWS_AS(s->step(toStored(TensorMap{{"x", test::tensor(DType::F32, {3}, {NAN, 2, 3})}})), NonFiniteLoss);
  }
}

}  // namespace kiln

namespace kiln {

TEST_CASE("sessions: a batch missing an input or naming an unknown one, and an infinite loss, are errors") {
  for (auto& s : bothEngines(program(true))) {
    TensorFile noTarget = batch(1);
    noTarget.erase("t");
    CHECK_THROWS_WITH_AS(s->step(noTarget), doctest::Contains("input \"t\""), Error);
    TensorFile extra = batch(1);
    extra["z"] = toStored(test::tensor(DType::F32, {1}, {0}));
    CHECK_THROWS_WITH_AS(s->step(extra), doctest::Contains("\"z\""), Error);
    try {
      s->step(batch(INFINITY));
      FAIL("expected NonFiniteLoss");
    } catch (const NonFiniteLoss& e) {
      CHECK(std::isinf(e.loss()));
      CHECK(std::string(e.what()).find("the loss is inf") != std::string::npos);
    }
  }
  auto exe = compileGraph(program(false), CompileOptions{true, std::string(KILN_BUILD_DIR) + "/kiln-cache"});
  CHECK_THROWS_WITH_AS(exe->output("zz"), "error: no output is called \"zz\"", Error);
}

}  // namespace kiln
