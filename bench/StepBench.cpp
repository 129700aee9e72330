// kiln_bench: times kiln's training step and compile of a model, for bench/step_vs_torch.py.
//   kiln_bench step MODEL [--batch N] [--steps N]   median milliseconds per training step (JIT, 1 thread)
//   kiln_bench compile MODEL [--batch N]            cold (no cache) and cached compile of the training step
// The optimizer is SGD with momentum 0.9, lr 0.01, as the PyTorch baseline. Prints one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "compiler/ParamInit.h"
#include "compiler/Pipeline.h"
#include "ir/Error.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"
#include "tools/Args.h"

using namespace kiln;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

Graph trainingProgram(const ModelSpec& m, int64_t batch) {
  OptimizerOptions o;
  o.kind = "sgd-momentum";
  o.lr = 0.01;
  return addOptimizer(autodiff(m.build(batch)), o);
}

int stepBench(const ModelSpec& m, int64_t batch, int64_t steps) {
  Graph prog = trainingProgram(m, batch);
  auto session = compileSession(prog, 0);
  TensorFile data = toStored(randomInputs(prog, 1));
  for (int i = 0; i < 3; ++i) session->step(data);  // warm-up: caches, page faults
  std::vector<double> ms;
  for (int64_t i = 0; i < steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    session->step(data);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::cout << fmt::format("{{\"engine\": \"kiln\", \"model\": \"{}\", \"batch\": {}, \"ms_per_step\": {:.4f}}}\n", m.name,
                           batch, median(ms));
  return 0;
}

int compileBench(const ModelSpec& m, int64_t batch) {
  Graph prog = trainingProgram(m, batch);
  std::string dir = (std::filesystem::temp_directory_path() / ("kiln-bench-cache-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  CompileStats cold, cached;
  compileGraph(prog, {true, dir}, &cold);
  compileGraph(prog, {true, dir}, &cached);
  std::filesystem::remove_all(dir);
  std::cout << fmt::format(
      "{{\"model\": \"{}\", \"batch\": {}, \"kernels\": {}, \"cold_ms\": {:.1f}, \"cached_ms\": {:.1f}, \"optimize_ms\": "
      "{:.1f}, \"codegen_ms\": {:.1f}}}\n",
      m.name, batch, cold.kernels, cold.totalMs(), cached.totalMs(), cold.optimizeMs, cold.codegenMs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 3) throw Error("usage: kiln_bench step|compile MODEL [--batch N] [--steps N]");
    std::string what = argv[1];
    Args args("bench", std::vector<std::string>(argv + 3, argv + argc), {{"batch", "steps"}, {}});
    const ModelSpec& m = findModel(argv[2]);
    int64_t batch = args.integer("batch", m.defaultBatch, 1, 1 << 16);
    if (what == "step") return stepBench(m, batch, args.integer("steps", 20, 1, 100000));
    if (what == "compile") return compileBench(m, batch);
    throw Error(fmt::format("unknown benchmark '{}'; expected step or compile", what));
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
