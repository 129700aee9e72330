// Every model's memory plan through the validator (passes/PlanVerify.cpp, independent of the planner: no
// two values live at the same time share bytes of the arena, except an in-place reuse at the one kernel
// where the old value dies and the new one is written at the same index and element size), and every
// aliasing output lands on the leaf it replaces.
#include <doctest/doctest.h>

#include "compiler/DiffTest.h"
#include "compiler/Interpreter.h"
#include "ir/Builder.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Fuse.h"
#include "passes/Optimizer.h"
#include "passes/PlanMemory.h"
#include "passes/Simplify.h"
#include "tests/TestUtil.h"

namespace kiln {

TEST_CASE("memory plans: live values never share bytes, and aliasing outputs land on their leaves") {
  struct Case {
    std::string model, optimizer;
    int64_t batch;
  };
  for (const Case& c : {Case{"mlp", "sgd-momentum", 128}, Case{"mlp", "adamw", 8}, Case{"cnn", "adam", 8},
                        Case{"gpt", "adamw", 2}, Case{"gpt-block", "sgd", 2}}) {
    INFO(c.model, " with ", c.optimizer);
    OptimizerOptions o;
    o.kind = c.optimizer;
    Graph g = simplify(addOptimizer(autodiff(findModel(c.model).build(c.batch)), o));
    Schedule s = fuse(g);
    MemoryPlan p = planMemory(g, s);
    std::vector<std::string> problems = verifyPlan(g, s, p);
    for (const std::string& problem : problems) FAIL_CHECK(problem);
    CHECK(problems.empty());
    int64_t reuses = 0;
    for (const PlannedBuffer& b : p.buffers) reuses += b.inPlaceOf.valid();
    int aliased = 0, landed = 0;
    for (const Output& out : g.outputs())
      if (out.aliases.valid()) {
        aliased++;
        landed += p.offsetOf[size_t(out.node.v)] == p.offsetOf[size_t(out.aliases.v)];
      }
    MESSAGE(c.model, " ", c.optimizer, ": ", s.kernels.size(), " kernels, arena ", p.peakBytes, " bytes, lower bound ",
            p.lowerBoundBytes, ", no reuse ", p.noReuseBytes, "; ", reuses, " in-place reuses; ", landed, " of ", aliased,
            " aliasing outputs in place");
    CHECK(aliased > 0);
    CHECK(landed == aliased);
    CHECK(p.peakBytes >= p.lowerBoundBytes);
    CHECK(p.efficiency() >= 0.95);
  }
}

}  // namespace kiln

namespace kiln {

TEST_CASE("fusion splits a long element-wise chain into kernels of at most 64 nodes, so compile time stays linear") {
  Builder b("chain");
  Value x = b.input("x", {DType::F32, {64}});
  for (int i = 0; i < 1000; ++i) x = i % 2 ? tanh(x) : sin(x);
  b.output("y", x);
  Graph g = b.finish();
  Schedule s = fuse(g);
  CHECK(s.kernels.size() == 16);  // ceil(1000 / 64)
  size_t nodes = 0, refusedForSize = 0;
  for (const FusedKernel& k : s.kernels) {
    CHECK(k.nodes.size() <= 64);
    nodes += k.nodes.size();
  }
  CHECK(nodes == 1000);
  for (const FusionRefusal& r : s.refusals) refusedForSize += r.reason.find("already holds 64 nodes") != std::string::npos;
  CHECK(refusedForSize == 15);
  // The split chain computes what the interpreter does.
  TensorMap feeds = {{"x", test::tensor(DType::F32, {64}, std::vector<double>(64, 0.5))}};
  CHECK(test::maxRelError(runCompiled(g, feeds, {true, std::string(KILN_BUILD_DIR) + "/kiln-cache"}).at("y").data, evaluate(g, feeds).at("y").data) < 1e-5);
}

}  // namespace kiln
