// Autodiff and the optimizers: the finite-difference sweep over the op table, optimizer updates against
// closed forms computed here, and the training program's structure and determinism.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "compiler/GradCheck.h"
#include "compiler/ParamInit.h"
#include "compiler/InterpSession.h"
#include "ir/Builder.h"
#include "ir/Error.h"
#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"
#include "tests/TestUtil.h"

namespace kiln {

TEST_CASE("gradcheck: every case of the sweep meets the tolerance") {
  for (const GradCheckCase& c : gradCheckCases()) {
    auto [g, values] = c.make();
    GradCheckResult r = gradCheck(c.name, g, values);
    INFO(c.name, ": ", r.worst);
    CHECK(r.elements > 0);
    CHECK(r.maxRelError <= kGradCheckTolerance);
  }
}

TEST_CASE("gradcheck: the sweep covers every differentiable op of the table") {
  std::set<Op> seen;
  for (const GradCheckCase& c : gradCheckCases()) {
    auto made = c.make();  // keep the graph alive while its nodes are read
    for (const Node& n : made.first.nodes()) seen.insert(n.op);
  }
  // The table says which ops have a gradient rule (ir/Ops.def .grad); each needs a case, and parameters
  // (what the cases differentiate against) appear in all of them.
  for (Op op : allOps()) {
    if (opInfo(op).facts.grad != GradKind::HasRule && op != Op::Parameter) continue;
    INFO("op without a gradcheck case: ", opName(op));
    CHECK(seen.count(op) == 1);
  }
}

TEST_CASE("autodiff errors name what is wrong") {
  Graph mlp = findModel("mlp").build(2);
  CHECK_THROWS_WITH_AS(autodiff(mlp, {"logits", {}}), doctest::Contains("the loss \"logits\" must be a float scalar"), Error);
  CHECK_THROWS_WITH_AS(autodiff(mlp, {"nope", {}}), doctest::Contains("no output \"nope\""), Error);
  CHECK_THROWS_WITH_AS(autodiff(mlp, {"loss", {"fc9.weight"}}), doctest::Contains("no input or parameter is called \"fc9.weight\""), Error);
  CHECK_THROWS_WITH_AS(autodiff(mlp, {"loss", {"labels"}}), doctest::Contains("only f32 and f64 values have gradients"), Error);
  Graph split = parseKir("kiln 1\n%0 = parameter {name=\"p\", init=ones, scale=0} : f32[4,3]\n"
                         "%1 = reduce_sum %0 {axes=[0,1], groups=2} : f32[2]\n%2 = reduce_sum %1 {axes=[0]} : f32[]\n"
                         "output \"loss\" = %2\n", "split");
  CHECK_THROWS_WITH_AS(autodiff(split, {"loss", {}}), doctest::Contains("reduce_sum with groups=2 has no gradient rule"), Error);
  // Gradients with respect to an input are available on request.
  Graph g = autodiff(mlp, {"loss", {"x"}});
  CHECK(g.findOutput("grad/x").has_value());
  CHECK(!g.findOutput("grad/fc1.weight").has_value());
}

namespace {

/// loss = sum(w * c) over parameters w (f32[n]) and inputs c: the gradient of w is exactly c.
Graph linearLoss(const std::vector<std::string>& params, int64_t n) {
  Builder b("lin");
  Value loss;
  for (const std::string& p : params) {
    Value term = sum(b.parameter(p, {n}, Init::Zeros) * b.input("c_" + p, {DType::F32, {n}}), {0});
    loss = loss.id().valid() ? loss + term : term;
  }
  b.output("loss", loss);
  return b.finish();
}

InterpSession optimizerSession(const OptimizerOptions& o, const std::vector<std::string>& params = {"w"}, int64_t n = 3) {
  Graph prog = addOptimizer(autodiff(linearLoss(params, n)), o);
  REQUIRE(verify(prog).empty());
  return InterpSession(prog, 0);
}

HostTensor f32(const std::vector<double>& v) { return test::tensor(DType::F32, {int64_t(v.size())}, v); }

}  // namespace

TEST_CASE("Adam and AdamW: three steps against the closed form") {
  const std::vector<double> w0 = {0.5, -1.0, 2.0};
  const std::vector<std::vector<double>> grads = {{0.1, -0.2, 0.3}, {0.4, 0.0, -0.6}, {-0.2, 0.5, 0.1}};
  for (const char* kind : {"adam", "adamw"}) {
    OptimizerOptions o;
    o.kind = kind;
    o.lr = 0.01;
    o.weightDecay = 0.1;
    InterpSession s = optimizerSession(o);
    s.set("w", f32(w0));
    std::vector<double> w = w0, m(3, 0), v(3, 0);
    for (int t = 1; t <= 3; ++t) {
      s.step({{"c_w", f32(grads[size_t(t - 1)])}});
      for (size_t i = 0; i < 3; ++i) {
        double g = grads[size_t(t - 1)][i];
        if (std::string(kind) == "adam") g += 0.1 * w[i];  // L2 in the gradient
        else w[i] *= 1 - 0.01 * 0.1;                        // decoupled decay
        m[i] = 0.9 * m[i] + 0.1 * g;
        v[i] = 0.999 * v[i] + 0.001 * g * g;
        double mhat = m[i] / (1 - std::pow(0.9, t)), vhat = v[i] / (1 - std::pow(0.999, t));
        w[i] -= 0.01 * mhat / (std::sqrt(vhat) + 1e-8);
      }
      INFO(kind, " step ", t);
      CHECK(test::maxRelError(s.get("w").data, w) < 2e-6);
      CHECK(test::maxRelError(s.get("w.exp_avg").data, m) < 2e-6);
    }
    CHECK(s.get("optimizer.step").data[0] == 3);
  }
}

TEST_CASE("SGD, momentum and Nesterov against the closed form") {
  const std::vector<std::vector<double>> grads = {{1, -2, 0.5}, {0.5, 1, -1}, {-1, 0.25, 2}};
  for (const char* kind : {"sgd", "sgd-momentum", "sgd-nesterov"}) {
    OptimizerOptions o;
    o.kind = kind;
    o.lr = 0.1;
    o.momentum = 0.9;
    o.weightDecay = 0.01;
    InterpSession s = optimizerSession(o);
    s.set("w", f32({1, 2, 3}));
    std::vector<double> w = {1, 2, 3}, buf(3, 0);
    for (int t = 0; t < 3; ++t) {
      s.step({{"c_w", f32(grads[size_t(t)])}});
      for (size_t i = 0; i < 3; ++i) {
        double g = grads[size_t(t)][i] + 0.01 * w[i];
        buf[i] = 0.9 * buf[i] + g;
        double d = std::string(kind) == "sgd" ? g : std::string(kind) == "sgd-momentum" ? buf[i] : g + 0.9 * buf[i];
        w[i] -= 0.1 * d;
      }
    }
    INFO(kind);
    CHECK(test::maxRelError(s.get("w").data, w) < 1e-6);
  }
}

TEST_CASE("gradient clipping by global norm") {
  OptimizerOptions o;
  o.lr = 1;
  o.clipNorm = 1;
  InterpSession s = optimizerSession(o, {"a", "b"}, 2);
  s.set("a", f32({0, 0}));
  s.set("b", f32({0, 0}));
  s.step({{"c_a", f32({3, 0})}, {"c_b", f32({0, 4})}});  // global norm 5: scaled by 1 / (5 + 1e-6)
  double k = 1 / (5 + 1e-6);
  CHECK(test::maxRelError(s.get("a").data, {-3 * k, 0}) < 1e-6);
  CHECK(test::maxRelError(s.get("b").data, {0, -4 * k}) < 1e-6);
  s.step({{"c_a", f32({0.3, 0})}, {"c_b", f32({0, 0.4})}});  // norm 0.5 < 1: unchanged gradients
  CHECK(test::maxRelError(s.get("a").data, {-3 * k - 0.3, 0}) < 1e-6);
}

TEST_CASE("warm-up then cosine schedule at chosen steps") {
  OptimizerOptions o;
  o.lr = 1;
  o.schedule = "warmup-cosine";
  o.warmupSteps = 4;
  o.totalSteps = 12;
  o.minLr = 0.1;
  InterpSession s = optimizerSession(checkedOptimizerOptions(o, false));
  std::vector<double> lrs;
  for (int t = 0; t <= 20; ++t) lrs.push_back(s.step({{"c_w", f32({0, 0, 0})}}).at("lr").data[0]);
  // warm-up: (t+1)/4; then 0.1 + 0.45 (1 + cos(pi (t-4)/8)), clamped after step 12.
  CHECK(lrs[0] == doctest::Approx(0.25));
  CHECK(lrs[3] == doctest::Approx(1.0));
  CHECK(lrs[4] == doctest::Approx(1.0));
  CHECK(lrs[8] == doctest::Approx(0.55));
  CHECK(lrs[6] == doctest::Approx(0.1 + 0.45 * (1 + std::cos(M_PI / 4))));
  CHECK(lrs[12] == doctest::Approx(0.1));
  CHECK(lrs[20] == doctest::Approx(0.1));
  CHECK_THROWS_WITH_AS(checkedOptimizerOptions({.kind = "rmsprop"}, false), doctest::Contains("unknown optimizer 'rmsprop'"), Error);
}

TEST_CASE("training programs: aliasing outputs, state, determinism") {
  OptimizerOptions o;
  o.kind = "adamw";
  Graph prog = addOptimizer(autodiff(findModel("mlp").build(4)), checkedOptimizerOptions(o, false));
  CHECK(verify(prog).empty());
  int aliased = 0;
  for (const Output& out : prog.outputs())
    if (out.aliases.valid()) {
      aliased++;
      CHECK(prog[out.aliases].type == prog[out.node].type);
    }
  CHECK(aliased == 6 * 3 + 1);  // each parameter, its two moments, the step counter
  CHECK(!savedForBackward(prog).empty());
  TensorMap batch = randomInputs(prog, 5);
  InterpSession a(prog, 7), b(prog, 7);
  for (int i = 0; i < 3; ++i) CHECK(InterpSession::loss(a.step(batch)) == InterpSession::loss(b.step(batch)));
  CHECK(a.get("fc1.weight").data == b.get("fc1.weight").data);
  CHECK_THROWS_WITH_AS(a.set("fc1.weight", f32({1})), doctest::Contains("\"fc1.weight\" is f32[512,784], got f32[1]"), Error);
  CHECK_THROWS_WITH_AS(a.step({}), doctest::Contains("input \"x\" is missing from the batch"), Error);
}

TEST_CASE("a NaN loss stops training with an error naming the step") {
  Builder b("nan");
  Value w = b.parameter("w", {1}, Init::Ones);
  b.output("loss", sum(log(w * b.input("c", {DType::F32, {1}})), {0}));
  OptimizerOptions o;
  InterpSession s(addOptimizer(autodiff(b.finish()), o), 0);
  s.step({{"c", f32({1})}});
  CHECK_THROWS_WITH_AS(s.step({{"c", f32({-1})}}), "error: step 1: the loss is nan (training stopped; parameters are those before this step)", Error);
  CHECK(s.get("w").data[0] == doctest::Approx(1 - 0.01));
}

}  // namespace kiln
