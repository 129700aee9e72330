// kiln export, dump, run, llvm, asm, fuse, plan, models and passes, and the table of verbs.
#include "tools/Commands.h"

#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "compiler/Gemm.h"
#include "compiler/HostTensor.h"
#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "compiler/Pipeline.h"
#include "ir/Error.h"
#include "ir/Json.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "models/FashionMnist.h"
#include "models/Models.h"
#include "passes/Fuse.h"
#include "passes/PassRegistry.h"
#include "passes/PlanMemory.h"
#include "passes/Simplify.h"
#include "tools/Args.h"
#include "tools/CliCommon.h"

namespace kiln {

namespace {

const char* kExportHelp =
    "usage: kiln export MODEL [--batch N] [--set KEY=N,...] [--train OPTIMIZER [optimizer flags]] [--json]\n"
    "Prints a model's graph as canonical .kir text (or JSON with --json).\n"
    "  --batch N          batch size (default: the model's own)\n"
    "  --set KEY=N,...    change the model's settings (`kiln models` lists them), e.g. --set layers=2,seq=64\n"
    "  --train OPTIMIZER  print the training program instead: the forward pass, its backward pass\n"
    "                     (autodiff) and the parameter updates (optimizer)\n"
    "  --json             print JSON instead of .kir\n"
    "Models: see `kiln models`.\n";

int cmdExport(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kExportHelp)) return 0;
  Args args("export", argv, withPassFlags({{"batch", "train", "set"}, {"json"}}));
  args.expectPositionals(1, "one MODEL");
  const ModelSpec& m = findModel(args.positionals()[0]);
  Graph g = m.build(args.integer("batch", m.defaultBatch, 1, 1 << 20), m.configure(args.value("set").value_or("")));
  if (auto opt = args.value("train")) {
    if (args.has("optimizer")) throw Error("kiln export: give the optimizer once, as --train OPTIMIZER");
    PassOptions o = passOptions(args);
    o.set("optimizer", *opt);
    g = findPass("optimizer")(findPass("autodiff")(g, o), o);
  }
  std::cout << (args.has("json") ? graphToJson(g) : printGraph(g));
  return 0;
}

const char* kDumpHelp =
    "usage: kiln dump FILE|- [--json] [--passes=LIST] [--print-after-all]\n"
    "Parses a graph (.kir text or JSON, detected), verifies it, runs the listed passes and prints the\n"
    "result canonically: the graph, or the schedule or memory plan when the list ends with fuse or\n"
    "plan-memory.\n"
    "  --json             print JSON instead of .kir\n"
    "  --passes=a,b       run these passes in order (see `kiln passes`; fuse and plan-memory included,\n"
    "                     e.g. --passes=simplify,split-reductions,fuse,plan-memory runs what the compiler runs)\n"
    "  --print-after-all  print what every pass made, each under a '# after PASS' line: the graph, the\n"
    "                     schedule (after fuse) or the memory plan (after plan-memory)\n"
    "  --verify-each      verify the graph after every pass, and the memory plan after plan-memory\n"
    "                     (kiln always verifies the final graph)\n"
    "  --stats            print what passes report (simplify: how often each rule fired) to stderr\n"
    "  --loss NAME        autodiff: the output to differentiate (default loss)\n"
    "  --wrt a,b          autodiff: the leaves to differentiate against (default: every parameter)\n"
    "and the optimizer flags of `kiln train --help`.\n";

int cmdDump(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kDumpHelp)) return 0;
  Args args("dump", argv, withPassFlags({{"passes"}, {"json", "print-after-all", "verify-each", "stats"}}));
  args.expectPositionals(1, "one FILE (or - for standard input)");
  std::string path = args.positionals()[0];
  Graph g = loadGraph(path);
  PassOptions passList;
  passList.set("passes", args.value("passes").value_or(""));
  PipelineState state{std::move(g), {}, {}};
  const PassInfo* last = nullptr;
  runPipeline(state, passList.list("passes"), passOptions(args),
              [&](const PassInfo& pass, const PipelineState& s, double, const std::string& report) {
                if (args.has("stats") && !report.empty()) std::cerr << "# " << pass.name << " statistics\n" << report;
                if (args.has("verify-each")) verifyStage(pass, s, fileLabel(path));
                if (args.has("print-after-all")) std::cout << "# after " << pass.name << "\n" << printStage(pass, s);
                last = &pass;
              });
  verifyOrThrow(state.graph, fileLabel(path));
  if (args.has("print-after-all")) return 0;
  // What the last stage made: the graph, or the schedule or memory plan when the list ends with one.
  StageKind made = last ? last->kind : StageKind::GraphPass;
  bool json = args.has("json");
  if (made == StageKind::Schedule) std::cout << (json ? scheduleToJson(state.graph, *state.schedule) : printStage(*last, state));
  else if (made == StageKind::Plan) std::cout << (json ? planToJson(state.graph, *state.plan) : printStage(*last, state));
  else std::cout << (json ? graphToJson(state.graph) : printGraph(state.graph));
  return 0;
}

const char* kRunHelp =
    "usage: kiln run FILE [--inputs IN.safetensors | --data fashion-mnist | --seed N] [--out OUT.safetensors]\n"
    "                [--engine interp|jit] [--time-passes] [--no-cache] [--threads N]\n"
    "Evaluates a graph and prints a summary of each output.\n"
    "  --engine E      interp: the reference interpreter (default); jit: compiled kernels\n"
    "  --time-passes   with jit: compile time per stage\n"
    "  --no-cache      with jit: compile without the on-disk object cache\n"
    "  --threads N     with jit: threads that compile and run (default $KILN_THREADS, else every core;\n"
    "                  results are the same bits at any count)\n"
    "  --inputs F      values for inputs (all of them) and for any parameters (by name)\n"
    "  --data fashion-mnist[:DIR]\n"
    "                  feed inputs x and labels from a real Fashion-MNIST training batch\n"
    "  --batch-index K which batch of the training set --data takes (default 0)\n"
    "  --seed N        seed for random inputs (when neither --inputs nor --data is given) and for\n"
    "                  parameters not in --inputs, initialised as declared (default 0)\n"
    "  --f64           evaluate f32 nodes in f64\n"
    "  --out F         write the outputs to a safetensors file\n";

/// Inputs x and labels from batch `index` of the Fashion-MNIST training set, shaped as `g` declares.
TensorMap fashionBatch(const Graph& g, int64_t index, const std::string& dir) {
  auto x = g.findLeaf("x"), labels = g.findLeaf("labels");
  if (!x || !labels || g[*x].type.rank() < 1 || g[*labels].type.rank() != 1 ||
      g[*x].type.numel() != g[*x].type.shape[0] * 784 || g[*labels].type.shape[0] != g[*x].type.shape[0])
    throw Error("--data fashion-mnist needs inputs x [B, 784] or [B, 1, 28, 28] and labels i32[B]");
  Dataset d = loadFashionMnist("train", dir);
  int64_t batch = g[*x].type.shape[0];
  if ((index + 1) * batch > d.count)
    throw Error(fmt::format("--batch-index {} is past the {} training images", index, d.count));
  HostTensor xs(DType::F32, g[*x].type.shape), ls(DType::I32, {batch});
  for (int64_t i = 0; i < batch * 784; ++i) xs.data[size_t(i)] = d.images[size_t(index * batch * 784 + i)];
  for (int64_t i = 0; i < batch; ++i) ls.data[size_t(i)] = d.labels[size_t(index * batch + i)];
  return {{"x", xs}, {"labels", ls}};
}

int cmdRun(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kRunHelp)) return 0;
  Args args("run", argv, {{"inputs", "seed", "out", "data", "batch-index", "engine", "threads"}, {"f64", "time-passes", "no-cache"}});
  args.expectPositionals(1, "one FILE (or - for standard input)");
  if (args.has("inputs") + args.has("data") > 1) throw Error("kiln run: give at most one of --inputs and --data");
  Graph g = loadGraph(args.positionals()[0]);
  uint64_t seed = uint64_t(args.integer("seed", 0, 0, INT64_MAX));
  TensorMap feeds = initParameters(g, seed);
  if (auto in = args.value("inputs")) {
    for (auto& [k, stored] : readSafetensors(*in)) {
      std::optional<NodeId> leaf = g.findLeaf(k);
      if (!leaf) throw Error(Location{*in, 0, 0}, fmt::format("tensor \"{}\" matches no input or parameter", k));
      const Node& n = g[*leaf];
      HostTensor t;
      try {
        t = fromStored(stored, k);  // I64 and U8 become i32 (each value checked), as the engines take them
      } catch (const Error& e) {
        throw e.withLocation(Location{*in, 0, 0});
      }
      if (t.dtype != n.type.dtype || stored.shape != n.type.shape)  // named as stored: a U8 tensor is not "i32"
        throw Error(Location{*in, 0, 0}, fmt::format("{} \"{}\": expected {}, got {}[{}]", opName(n.op), k, n.type.str(),
                                                     stored.dtype, fmt::join(stored.shape, ",")));
      feeds[k] = t;
    }
  } else if (auto data = args.value("data")) {
    std::string dir = fashionMnistDir(*data, "kiln run");
    for (auto& [k, v] : fashionBatch(g, args.integer("batch-index", 0, 0, INT32_MAX), dir)) feeds[k] = v;
  } else {
    for (auto& [k, v] : randomInputs(g, seed)) feeds[k] = v;
  }
  std::string engine = args.value("engine").value_or("interp");
  TensorMap outs;
  if (engine == "interp") {
    outs = evaluate(g, feeds, args.has("f64") ? Precision::F64 : Precision::Declared);
  } else if (engine == "jit") {
    if (args.has("f64")) throw Error("kiln run: --f64 is an interpreter option");
    checkFeeds(g, feeds);  // the interpreter's errors for a missing or mistyped input, before compiling
    CompileStats stats;
    auto exe = compileGraph(g, compileOptions(args), &stats);
    if (args.has("time-passes")) std::cerr << stats.report();
    for (const auto& [k, v] : feeds) exe->set(k, toStored(v));
    exe->run();
    for (const Output& o : g.outputs()) outs[o.name] = fromStored(exe->output(o.name), o.name);
  } else {
    throw Error(fmt::format("kiln run: unknown --engine '{}'; expected interp or jit", engine));
  }
  for (const Output& o : g.outputs()) std::cout << o.name << ": " << summarize(outs[o.name]) << "\n";
  if (auto out = args.value("out")) writeSafetensors(*out, toStored(outs));
  return 0;
}

const char* kLlvmHelp =
    "usage: kiln llvm FILE|- [--unoptimized]\n"
    "Prints the LLVM IR of every kernel of a graph, after the O3 pipeline unless --unoptimized: the module of\n"
    "entry points (one per kernel of the schedule, with the ABI i32 kernel(ptr arena, ptr scratch, i64 begin,\n"
    "i64 end)), then each distinct body (one pointer per buffer, then scratch, begin, end) and the kernels\n"
    "that run it.\n";

int cmdLlvm(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kLlvmHelp)) return 0;
  Args args("llvm", argv, {{}, {"unoptimized"}});
  args.expectPositionals(1, "one FILE (or - for standard input)");
  std::cout << graphLlvmIr(loadGraph(args.positionals()[0]), !args.has("unoptimized"));
  return 0;
}

const char* kAsmHelp =
    "usage: kiln asm FILE|-\n"
    "Prints the host assembly of every kernel of a graph, as the JIT compiles it.\n";

int cmdAsm(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kAsmHelp)) return 0;
  Args args("asm", argv, {{}, {}});
  args.expectPositionals(1, "one FILE (or - for standard input)");
  std::cout << graphAssembly(loadGraph(args.positionals()[0]));
  return 0;
}

const char* kFuseHelp =
    "usage: kiln fuse FILE|- [--explain] [--json] [--no-simplify]\n"
    "Simplifies a graph and prints the kernels fusion makes of it, each with its nodes (only the last is\n"
    "written to memory). --explain adds every edge that was not fused and why; --json prints\n"
    "{\"kernels\": N, \"kernel_list\": [...], \"refusals\": [...]}.\n";

int cmdFuse(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kFuseHelp)) return 0;
  Args args("fuse", argv, {{}, {"explain", "json", "no-simplify"}});
  args.expectPositionals(1, "one FILE (or - for standard input)");
  PipelineState st = compileThrough(args, "fuse");
  std::cout << (args.has("json") ? scheduleToJson(st.graph, *st.schedule) : printSchedule(st.graph, *st.schedule, args.has("explain")));
  return 0;
}

const char* kPlanHelp =
    "usage: kiln plan FILE|- [--json] [--svg OUT.svg] [--no-simplify] [--verify]\n"
    "Simplifies and fuses a graph, plans its memory, and prints the arena's peak bytes, the lower bound\n"
    "(most bytes live at once), the no-reuse total, the efficiency (lower bound / peak) and a table of\n"
    "buffers (bytes, first and last kernel, offset, in-place reuse). --json prints {\"peak_bytes\",\n"
    "\"lower_bound_bytes\", \"no_reuse_bytes\", \"efficiency\", \"buffers\"}; --svg draws the arena over time.\n"
    "--verify checks the plan with a validator independent of the planner (lifetimes recomputed from the\n"
    "schedule, bytes compared at each value's element size) and exits 1 naming every conflict.\n";

int cmdPlan(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kPlanHelp)) return 0;
  Args args("plan", argv, {{"svg"}, {"json", "no-simplify", "verify"}});
  args.expectPositionals(1, "one FILE (or - for standard input)");
  PipelineState st = compileThrough(args, "plan-memory");
  const Graph& g = st.graph;
  const Schedule& s = *st.schedule;
  const MemoryPlan& p = *st.plan;
  std::cout << (args.has("json") ? planToJson(g, p) : printPlan(g, p));
  if (args.has("verify")) {
    std::vector<std::string> problems = verifyPlan(g, s, p);
    for (const std::string& problem : problems) std::cerr << "plan-verify: " << problem << "\n";
    if (!problems.empty())
      throw Error(fmt::format("{}: the memory plan has {} conflict(s)", fileLabel(args.positionals()[0]), problems.size()));
    std::cerr << "plan-verify: ok (" << p.buffers.size() << " buffers, " << s.kernels.size() << " kernels)\n";
  }
  if (auto svg = args.value("svg")) {
    std::string text = planToSvg(g, p);
    writeFileAtomic(*svg, std::vector<uint8_t>(text.begin(), text.end()));
  }
  return 0;
}

const char* kKernelsHelp =
    "usage: kiln kernels FILE|- [--no-simplify]\n"
    "Simplifies and fuses a graph and prints its kernels: each one's kind and root and, for a matmul or\n"
    "convolution, the GEMM the engine runs it as (batches and M x N x K) with the register tile and the\n"
    "cache blocks it chose for this host, and where a fused kernel runs its epilogue (on the register tile,\n"
    "or element by element on the stored tile when a member cannot compute on vectors).\n";

int cmdKernels(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kKernelsHelp)) return 0;
  Args args("kernels", argv, {{}, {"no-simplify"}});
  args.expectPositionals(1, "one FILE (or - for standard input)");
  PipelineState st = compileThrough(args, "fuse");
  const Graph& g = st.graph;
  for (size_t i = 0; i < st.schedule->kernels.size(); ++i) {
    const FusedKernel& kn = st.schedule->kernels[i];
    std::cout << fmt::format("kernel {} {} -> %{} {}", i, kindName(g, kn), kn.root.v, g[kn.root].type.str());
    for (NodeId m : kn.nodes)
      if (std::string gemm = describeGemm(g, m); !gemm.empty()) std::cout << fmt::format("; %{} {}", m.v, gemm);
    if (std::string epi = describeEpilogue(g, kn); !epi.empty()) std::cout << "; " << epi;
    std::cout << "\n";
  }
  return 0;
}

const char* kModelsHelp =
    "usage: kiln models\nLists the models `kiln export` and `kiln train` know, with the settings --set changes.\n";

int cmdModels(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kModelsHelp)) return 0;
  Args args("models", argv, {});
  args.expectPositionals(0, "no arguments");
  for (const ModelSpec& m : allModels()) {
    std::cout << fmt::format("{:<10} batch {:<4} {}\n", m.name, m.defaultBatch, m.description);
    if (!m.preset.values.empty()) std::cout << fmt::format("{:<10} settings: {}\n", "", m.preset.str());
  }
  return 0;
}

const char* kPassesHelp = "usage: kiln passes\nLists the passes `kiln dump --passes` can run.\n";

int cmdPasses(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kPassesHelp)) return 0;
  Args args("passes", argv, {});
  args.expectPositionals(0, "no arguments");
  for (const PassInfo& p : allPasses()) std::cout << fmt::format("{:<14} {}\n", p.name, p.summary);
  return 0;
}

}  // namespace

const std::vector<Command>& allCommands() {
  static const std::vector<Command> commands = {
      {"export", "print a model's graph", kExportHelp, cmdExport},
      {"dump", "parse, verify, transform and print a graph", kDumpHelp, cmdDump},
      {"run", "evaluate a graph (interpreter or JIT)", kRunHelp, cmdRun},
      {"llvm", "print the LLVM IR of a graph's kernels", kLlvmHelp, cmdLlvm},
      {"asm", "print the assembly of a graph's kernels", kAsmHelp, cmdAsm},
      {"train", "train a model", kTrainHelp, cmdTrain},
      {"generate", "sample text from a trained language model", kGenerateHelp, cmdGenerate},
      {"gradcheck", "check gradients against finite differences", kGradcheckHelp, cmdGradcheck},
      {"fuse", "print the kernels fusion makes, and why edges were not fused", kFuseHelp, cmdFuse},
      {"plan", "print the memory plan: peak, lower bound, buffers", kPlanHelp, cmdPlan},
      {"kernels", "print the kernels and the GEMM plan of every contraction", kKernelsHelp, cmdKernels},
      {"dot", "draw a graph or its kernels as Graphviz DOT (or SVG)", kDotHelp, cmdDot},
      {"fuzz-programs", "differential testing on random programs", kFuzzProgramsHelp, cmdFuzzPrograms},
      {"models", "list the models", kModelsHelp, cmdModels},
      {"passes", "list the passes", kPassesHelp, cmdPasses},
  };
  return commands;
}

}  // namespace kiln
