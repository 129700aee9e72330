// kiln_bench: kiln's side of the benchmarks (bench/step_vs_torch.py runs it beside PyTorch).
//   kiln_bench step MODEL [--batch N] [--steps N] [--unfused] [--threads N]
//                                                   median milliseconds per training step (JIT) at N threads
//                                                   (default $KILN_THREADS, else the cores) and at 1, steps
//                                                   interleaved, the speedup, and whether the losses agree bit
//                                                   for bit; --unfused: without simplify, fuse and plan-memory
//   kiln_bench compile MODEL [--batch N]            cold (no cache) and cached compile of the training step
//   kiln_bench plan MODEL [--batch N]               kernels per training step without and with fusion, and
//                                                   the arena: peak, lower bound, no reuse
//   kiln_bench soak MODEL [--steps N]               trains N steps (default 10,000) sampling resident memory;
//                                                   fails unless it stays within 2% after the first tenth
//   kiln_bench elementwise [--steps N] [--threads N] y = relu(a*b + c)*0.5 + d over 16M floats: kiln's fused
//                                                   kernel on N threads (default 1) against a C loop built
//                                                   with -O3 -march=native -fno-trapping-math (1 thread)
//   kiln_bench gemm [MODEL|SHAPE ...] [--repeats N] [--threads N]
//                                                   kiln's matmuls at the models' training shapes (or at
//                                                   shapes [BATCHx]MxNxK[:ta][:tb]) beside OpenBLAS and
//                                                   oneDNN, and the FMA peak, on N threads (default 1;
//                                                   set OMP_NUM_THREADS=N for oneDNN) (bench/GemmBench.cpp)
//   kiln_bench peak [--threads N]                   only the FMA peak of N cores and OpenBLAS's core name
// The optimizer is SGD with momentum 0.9, lr 0.01, as the PyTorch baseline. Prints one JSON object.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstring>

#include "compiler/ParamInit.h"
#include "ir/Builder.h"
#include "passes/PassRegistry.h"
#include "compiler/Pipeline.h"
#include "ir/Error.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"
#include "runtime/ThreadPool.h"
#include "tools/Args.h"

using namespace kiln;

namespace kiln {
int gemmBench(const std::vector<std::string>& models, int repeats, int threads);
}

extern "C" void kiln_bench_c_loop(const float* a, const float* b, const float* c, const float* d, float* y, int64_t n);

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

Graph trainingProgram(const ModelSpec& m, int64_t batch, const ModelConfig& c) {
  OptimizerOptions o;
  o.kind = "sgd-momentum";
  o.lr = 0.01;
  return addOptimizer(autodiff(m.build(batch, c)), o);
}

/// Steps at `threads` threads and at 1: two sessions of one program from one seed, run in alternating
/// rounds of 5 steps (each session's steps follow each other, as in training; the first step of a round,
/// which wakes the pool, is not timed). The median of each, the speedup, and whether both gave the same
/// loss bit for bit at every step.
int stepBench(const ModelSpec& m, const ModelConfig& c, int64_t batch, int64_t steps, bool unfused, int threads) {
  Graph prog = trainingProgram(m, batch, c);
  CompileOptions opts;
  opts.optimize = !unfused;
  std::unique_ptr<JitSession> sessions[2] = {compileSession(prog, 0, opts), compileSession(prog, 0, opts)};
  sessions[0]->executable().setThreads(threads);
  sessions[1]->executable().setThreads(1);
  TensorFile data = toStored(randomInputs(prog, 1));
  std::vector<double> ms[2], losses[2];
  constexpr int64_t kRound = 5;
  for (int64_t done = 0; done < steps + kRound; done += kRound)  // the first round warms up and is not kept
    for (int j : {0, 1})
      for (int64_t i = 0; i < kRound + 1; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        double loss = sessions[j]->step(data);
        double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        losses[j].push_back(loss);
        if (i > 0 && done > 0) ms[j].push_back(t);  // step 0 follows the other session's round: the pool slept
      }
  bool same = losses[0] == losses[1];
  std::cout << fmt::format("{{\"engine\": \"kiln\", \"model\": \"{}\", \"batch\": {}, \"fused\": {}, \"threads\": {}, "
                           "\"ms_per_step\": {:.4f}, \"ms_per_step_1_thread\": {:.4f}, \"speedup\": {:.3f}, \"same_bits\": {}}}\n",
                           m.name, batch, !unfused, threads, median(ms[0]), median(ms[1]), median(ms[1]) / median(ms[0]), same);
  return same ? 0 : 1;
}

/// Resident memory of this process, in MB (/proc/self/statm).
double residentMb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / 1e6;
}

/// Trains `steps` steps and samples resident memory 20 times: after the first tenth (warm-up) it must stay
/// flat, within 2% (a leak of a kilobyte a step shows over 10,000 steps).
int soakBench(const ModelSpec& m, const ModelConfig& c, int64_t batch, int64_t steps) {
  Graph prog = trainingProgram(m, batch, c);
  auto session = compileSession(prog, 0, {});
  TensorFile data = toStored(randomInputs(prog, 1));
  std::vector<double> samples;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) {
    session->step(data);
    if ((i + 1) % std::max<int64_t>(1, steps / 20) == 0) samples.push_back(residentMb());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<double> after(samples.begin() + std::ptrdiff_t(samples.size() / 10), samples.end());
  double lo = *std::min_element(after.begin(), after.end()), hi = *std::max_element(after.begin(), after.end());
  bool flat = hi <= lo * 1.02;
  std::cout << fmt::format("{{\"model\": \"{}\", \"steps\": {}, \"seconds\": {:.1f}, \"rss_mb\": [{:.1f}], "
                           "\"after_warmup_min_mb\": {:.1f}, \"after_warmup_max_mb\": {:.1f}, \"flat\": {}}}\n",
                           m.name, steps, secs, fmt::join(samples, ", "), lo, hi, flat);
  return flat ? 0 : 1;
}

int planBench(const ModelSpec& m, const ModelConfig& c, int64_t batch) {
  PipelineState fusedState{trainingProgram(m, batch, c), {}, {}}, plainState{trainingProgram(m, batch, c), {}, {}};
  runPipeline(fusedState, compileStages(true));
  runPipeline(plainState, compileStages(false));
  const Schedule& fused = *fusedState.schedule;
  const MemoryPlan& p = *fusedState.plan;
  std::cout << fmt::format(
      "{{\"model\": \"{}\", \"batch\": {}, \"kernels_unfused\": {}, \"kernels_fused\": {}, \"peak_bytes\": {}, "
      "\"lower_bound_bytes\": {}, \"no_reuse_bytes\": {}}}\n",
      m.name, batch, plainState.schedule->kernels.size(), fused.kernels.size(), p.peakBytes,
      p.lowerBoundBytes, p.noReuseBytes);
  return 0;
}

int elementwiseBench(int64_t repeats, int threads) {
  const int64_t n = int64_t(1) << 24;
  Builder b("elementwise");
  Type t{DType::F32, {n}};
  Value a = b.input("a", t), x = b.input("b", t), c = b.input("c", t), d = b.input("d", t);
  b.output("y", relu(a * x + c) * 0.5 + d);
  Graph g = b.finish();
  CompileStats stats;
  auto exe = compileGraph(g, {}, &stats);
  exe->setThreads(threads);  // the C loop runs on one
  std::vector<float> in[4];
  std::vector<float> out(static_cast<size_t>(n));
  Rng rng(1);
  for (auto& v : in) {
    v.resize(size_t(n));
    for (float& f : v) f = float(rng.normal());
  }
  char* arena = exe->arena();
  const char* names[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; ++i)
    for (const Buffer& buf : exe->spec().inputs)
      if (buf.name == names[i]) std::memcpy(arena + buf.offset, in[i].data(), size_t(n) * 4);
  std::vector<double> kiln, c_loop;
  for (int64_t r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    exe->run();
    kiln.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    t0 = std::chrono::steady_clock::now();
    kiln_bench_c_loop(in[0].data(), in[1].data(), in[2].data(), in[3].data(), out.data(), n);
    c_loop.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  StoredTensor y = exe->output("y");
  double worst = 0;  // the C compiler contracts a*b + c into an FMA; kiln rounds the product first
  for (int64_t i = 0; i < n; ++i) {
    float v;
    std::memcpy(&v, y.bytes.data() + i * 4, 4);
    worst = std::max(worst, double(std::fabs(v - out[size_t(i)])));
  }
  std::cout << fmt::format("{{\"kernels\": {}, \"kiln_ms\": {:.3f}, \"c_loop_ms\": {:.3f}, \"ratio\": {:.3f}, \"max_abs_diff\": {:.3g}}}\n",
                           stats.kernels, median(kiln), median(c_loop), median(kiln) / median(c_loop), worst);
  return 0;
}

int compileBench(const ModelSpec& m, const ModelConfig& c, int64_t batch) {
  Graph prog = trainingProgram(m, batch, c);
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
    if (argc >= 2 && std::string(argv[1]) == "elementwise") {
      Args args("bench", std::vector<std::string>(argv + 2, argv + argc), {{"steps", "threads"}, {}});
      return elementwiseBench(args.integer("steps", 20, 1, 10000), int(args.integer("threads", 1, 1, 256)));
    }
    if (argc >= 2 && std::string(argv[1]) == "gemm") {
      Args args("bench", std::vector<std::string>(argv + 2, argv + argc), {{"repeats", "threads"}, {}});
      std::vector<std::string> models = args.positionals();
      if (models.empty()) models = {"mlp", "gpt"};
      return gemmBench(models, int(args.integer("repeats", 7, 1, 1000)), int(args.integer("threads", 1, 1, 256)));
    }
    if (argc >= 2 && std::string(argv[1]) == "peak") {
      Args args("bench", std::vector<std::string>(argv + 2, argv + argc), {{"threads"}, {}});
      return gemmBench({}, 1, int(args.integer("threads", 1, 1, 256)));
    }
    if (argc < 3)
      throw Error("usage: kiln_bench step|compile|plan|soak MODEL [--batch N] [--set KEY=N,...] [--steps N] [--threads N] | elementwise [--steps N] [--threads N] | gemm [MODEL|SHAPE...] | peak [--threads N]");
    std::string what = argv[1];
    Args args("bench", std::vector<std::string>(argv + 3, argv + argc), {{"batch", "steps", "threads", "set"}, {"unfused"}});
    const ModelSpec& m = findModel(argv[2]);
    ModelConfig c = m.configure(args.value("set").value_or(""));
    int64_t batch = args.integer("batch", m.defaultBatch, 1, 1 << 16);
    if (what == "step")
      return stepBench(m, c, batch, args.integer("steps", 20, 1, 100000), args.has("unfused"), int(args.integer("threads", defaultThreads(), 1, 256)));
    if (what == "compile") return compileBench(m, c, batch);
    if (what == "plan") return planBench(m, c, batch);
    if (what == "soak") return soakBench(m, c, batch, args.integer("steps", 10000, 20, 10000000));
    throw Error(fmt::format("unknown benchmark '{}'; expected step, compile, plan, soak, elementwise, gemm or peak", what));
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
