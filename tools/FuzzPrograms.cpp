// kiln fuzz-programs: the random-program differential tester from the command line. Programs are drawn
// from consecutive seeds, PyTorch evaluates a batch of them in one process (tests/torch/eval_graph.py),
// and every program goes through diffProgram; a failure is shrunk and printed with its inputs.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <unistd.h>

#include <fmt/format.h>

#include "compiler/DiffTest.h"
#include "compiler/RandomProgram.h"
#include "ir/Error.h"
#include "ir/Json.h"
#include "runtime/Safetensors.h"
#include "tools/Args.h"
#include "tools/CliCommon.h"

namespace kiln {

const char* kFuzzProgramsHelp =
    "usage: kiln fuzz-programs [--n N] [--seed S] [--ops K] [--torch] [--no-jit] [--no-unfused] [--no-fd]\n"
    "                          [--no-shrink] [--print] [--out DIR] [--threads N]\n"
    "Draws N random op programs (seeds S, S+1, ...; default 100 from 1) over the whole op table, each ending\n"
    "in a scalar loss, and checks each: the interpreter in f32 against f64, the JIT fused (at 1 thread, and\n"
    "the same bits at 3 with every kernel split as finely as it allows) and unfused (and,\n"
    "for every second seed, a training step with sgd-momentum or adamw) against the interpreter, simplify\n"
    "idempotent, the memory plan through its validator, gradients against central finite differences in f64\n"
    "and, with --torch, forward values and autograd gradients against PyTorch (Debian's /usr/bin/python3 with\n"
    "python3-torch; $KILN_PYTHON overrides). A failing program is shrunk to a minimal one that fails the same\n"
    "check and printed as .kir with its inputs (and written to DIR with --out). Exits 1 if any program fails.\n"
    "  --ops K        ops per program (default 24)\n"
    "  --no-jit       skip the JIT (interpreter, passes, finite differences and PyTorch only)\n"
    "  --no-unfused   skip the unfused JIT program (one kernel per node: most of the compile time)\n"
    "  --no-fd        skip finite differences\n"
    "  --no-shrink    print failing programs as drawn\n"
    "  --print        print every program (.kir with its inputs as comments) before checking it\n"
    "  --threads N    threads that compile the JIT's programs (default $KILN_THREADS, else every core)\n";

namespace {

std::string torchScript() {
  if (const char* s = std::getenv("KILN_TORCH_ORACLE")) return s;
  return KILN_TORCH_ORACLE;
}

std::string python() {
  const char* p = std::getenv("KILN_PYTHON");
  return p ? p : "/usr/bin/python3";
}

/// Only the checks that `check` belongs to (the shrinker's predicate reruns just those; the training step
/// stays, since passes and jit-step failures may be in it).
DiffOptions only(const std::string& check, DiffOptions o) {
  bool all = check == "error";
  o.interpreter = all || check == "interp-f32";
  o.jit = all || check.rfind("jit", 0) == 0;
  o.passes = all || check == "simplify-idempotent" || check == "plan-verify";
  o.finiteDifferences = all || check == "finite-differences";
  return o;
}

struct Campaign {
  DiffOptions base;
  bool torch = false, shrink = true, print = false;
  std::string outDir, scratch;
  std::map<std::string, int64_t> failedChecks;
  int64_t failed = 0, nodes = 0;

  DiffOptions optionsFor(uint64_t seed) const {
    DiffOptions o = base;
    if (seed % 4 == 0) o.optimizer = "sgd-momentum";
    if (seed % 4 == 2) o.optimizer = "adamw";
    return o;
  }

  /// Which candidates still fail `check` (PyTorch evaluates them all in one process). When the failure was
  /// PyTorch refusing the program (`torchError`), a candidate fails by being refused too; otherwise a
  /// refused candidate does not count (it fails for another reason).
  std::vector<bool> failing(const std::vector<std::pair<Graph, TensorMap>>& cands, const DiffOptions& o, const std::string& check,
                            bool torchError) {
    std::vector<TorchResult> t = check == "torch" ? torchResults(cands, scratch + "-shrink", python(), torchScript()) : std::vector<TorchResult>();
    std::vector<bool> out;
    for (size_t i = 0; i < cands.size(); ++i) {
      if (check == "torch" && !t[i].error.empty()) {
        out.push_back(torchError);
        continue;
      }
      bool fails = false;
      for (const DiffFailure& d : diffProgram(cands[i].first, cands[i].second, only(check, o), check == "torch" ? &t[i].values : nullptr))
          fails = fails || d.check == check;
      out.push_back(fails);
    }
    return out;
  }

  void report(uint64_t seed, const RandomProgram& p, const std::vector<DiffFailure>& fails, const DiffOptions& o) {
    failed++;
    std::cout << fmt::format("FAIL seed {}{}:\n", seed, o.optimizer.empty() ? "" : " (step with " + o.optimizer + ")");
    for (const DiffFailure& f : fails) {
      std::cout << fmt::format("  {}: {}\n", f.check, f.detail);
      failedChecks[f.check]++;
    }
    std::pair<Graph, TensorMap> small{p.graph, p.feeds};
    if (shrink) {
      std::string check = fails[0].check;
      bool torchError = fails[0].detail.rfind("PyTorch could not", 0) == 0;
      small = shrinkProgram(p.graph, p.feeds, [&](const auto& cands) { return failing(cands, o, check, torchError); },
                            check == "torch" ? 1000 : 1);
      std::cout << fmt::format("  shrunk from {} to {} nodes, still failing {}:\n", p.graph.size(), small.first.size(), check);
    }
    std::string text = describeProgram(small.first, small.second);
    std::cout << text;
    if (!outDir.empty()) {
      std::filesystem::create_directories(outDir);
      std::ofstream(fmt::format("{}/seed-{}.kir", outDir, seed)) << text;
      writeSafetensors(fmt::format("{}/seed-{}.inputs.safetensors", outDir, seed), toStored(small.second));
    }
    std::cout.flush();
  }

  void run(uint64_t first, int64_t n, const RandomProgramOptions& ro) {
    const int64_t batch = 200;
    for (int64_t start = 0; start < n; start += batch) {
      std::vector<RandomProgram> ps;
      std::vector<std::pair<Graph, TensorMap>> pairs;
      for (int64_t i = start; i < std::min(n, start + batch); ++i) {
        ps.push_back(randomProgram(first + uint64_t(i), ro));
        pairs.push_back({ps.back().graph, ps.back().feeds});
        nodes += ps.back().graph.size();
      }
      std::vector<TorchResult> t = torch ? torchResults(pairs, scratch, python(), torchScript()) : std::vector<TorchResult>();
      for (size_t i = 0; i < ps.size(); ++i) {
        DiffOptions o = optionsFor(ps[i].seed);
        if (print) std::cout << fmt::format("# seed {}\n", ps[i].seed) << describeProgram(ps[i].graph, ps[i].feeds);
        std::vector<DiffFailure> fails;
        if (torch && !t[i].error.empty()) fails.push_back({"torch", "PyTorch could not evaluate the program: " + t[i].error});
        else fails = diffProgram(ps[i].graph, ps[i].feeds, o, torch ? &t[i].values : nullptr);
        if (!fails.empty()) report(ps[i].seed, ps[i], fails, o);
      }
      if (n > batch) std::cerr << fmt::format("fuzz-programs: {} of {} programs checked, {} failed\n", start + int64_t(ps.size()), n, failed);
    }
  }
};

}  // namespace

int cmdFuzzPrograms(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kFuzzProgramsHelp)) return 0;
  Args args("fuzz-programs", argv, {{"n", "seed", "ops", "out", "threads"}, {"torch", "no-jit", "no-unfused", "no-fd", "no-shrink", "print"}});
  args.expectPositionals(0, "no positional arguments");
  int64_t n = args.integer("n", 100, 0, int64_t(1) << 40);
  uint64_t seed = uint64_t(args.integer("seed", 1, 0, int64_t(1) << 62));
  RandomProgramOptions ro;
  ro.ops = int32_t(args.integer("ops", ro.ops, 1, 10000));
  Campaign c;
  c.base.jit = !args.has("no-jit");
  c.base.compile.threads = int(args.integer("threads", 0, 1, 256));
  c.base.unfused = !args.has("no-unfused");
  c.base.finiteDifferences = !args.has("no-fd");
  c.torch = args.has("torch");
  c.shrink = !args.has("no-shrink");
  c.print = args.has("print");
  c.outDir = args.value("out").value_or("");
  c.scratch = (std::filesystem::temp_directory_path() / fmt::format("kiln-fuzz-{}-{}", seed, ::getpid())).string();
  auto t0 = std::chrono::steady_clock::now();
  c.run(seed, n, ro);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string checks;
  for (const auto& [k, v] : c.failedChecks) checks += fmt::format(" {} {}", k, v);
  std::cout << fmt::format("fuzz-programs: {} programs (seeds {}..{}), {} nodes each on average, {} failed{}{}; {:.1f} s\n", n, seed,
                           seed + uint64_t(n) - 1, n ? double(c.nodes) / double(n) : 0.0, c.failed,
                           checks.empty() ? "" : " (", checks.empty() ? "" : checks.substr(1) + ")", s);
  return c.failed ? 1 : 0;
}

}  // namespace kiln
