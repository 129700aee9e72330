// kiln gradcheck: autodiff against central finite differences in f64, for a file or the whole op table.
#include <iostream>

#include <fmt/format.h>

#include "compiler/GradCheck.h"
#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "tools/CliCommon.h"

namespace kiln {

const char* kGradcheckHelp =
    "usage: kiln gradcheck FILE [--loss NAME] [--seed N]\n"
    "       kiln gradcheck --all-ops\n"
    "Compares autodiff's gradients (evaluated in f64) with central finite differences of the loss in f64,\n"
    "for every parameter of FILE (initialised as declared from the seed; inputs random), or for every\n"
    "differentiable op of the table and every composite. One row per case with the largest relative error\n"
    "|autodiff - fd| / max(|autodiff|, |fd|, 1e-3); exit status 1 if any exceeds 1e-6.\n";

namespace {

void printRow(const GradCheckResult& r) {
  std::cout << fmt::format("{:<32} {:>6} {:>12.3e}  {}\n", r.name, r.elements, r.maxRelError, r.pass ? "ok" : "FAIL");
  if (!r.pass) std::cout << "    worst: " << r.worst << "\n";
}

}  // namespace

int cmdGradcheck(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kGradcheckHelp)) return 0;
  Args args("gradcheck", argv, {{"loss", "seed"}, {"all-ops"}});
  std::vector<GradCheckResult> results;
  std::cout << fmt::format("{:<32} {:>6} {:>12}\n", "case", "grads", "max rel err");
  if (args.has("all-ops")) {
    args.expectPositionals(0, "no FILE with --all-ops");
    for (const GradCheckCase& c : gradCheckCases()) {
      auto [g, values] = c.make();
      results.push_back(gradCheck(c.name, g, values));
      printRow(results.back());
    }
  } else {
    args.expectPositionals(1, "one FILE (or --all-ops)");
    Graph g = loadGraph(args.positionals()[0]);
    uint64_t seed = uint64_t(args.integer("seed", 0, 0, INT64_MAX));
    TensorMap values = initParameters(g, seed);
    for (auto& [k, v] : randomInputs(g, seed)) values[k] = v;
    if (g.nodesWithOp(Op::Parameter).empty()) throw Error("kiln gradcheck: the graph has no parameters to check");
    results.push_back(gradCheck(fileLabel(args.positionals()[0]), g, values, args.value("loss").value_or("loss")));
    printRow(results.back());
  }
  int failed = 0;
  double worst = 0;
  for (const GradCheckResult& r : results) failed += !r.pass, worst = std::max(worst, r.maxRelError);
  std::cout << fmt::format("{} cases, {} failed, worst relative error {:.3e} (tolerance {:.0e})\n", results.size(), failed,
                           worst, kGradCheckTolerance);
  return failed ? 1 : 0;
}

}  // namespace kiln
