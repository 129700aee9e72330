// Graph -> Executable: the compile stages (compileStages), lowering every kernel of the schedule to an LLVM
// function, compiling and linking the module.
#include "compiler/Pipeline.h"

#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "compiler/HostTensor.h"
#include "compiler/Jit.h"
#include "compiler/ParamInit.h"
#include "compiler/Lowering.h"
#include "ir/Error.h"
#include "ir/Verifier.h"
#include "passes/PassRegistry.h"

namespace kiln {

double CompileStats::totalMs() const {
  double ms = lowerMs + optimizeMs + codegenMs + linkMs;
  for (const StageTime& t : stages) ms += t.ms;
  return ms;
}

std::string CompileStats::report() const {
  std::string out = "compile: ";
  for (const StageTime& t : stages) out += fmt::format("{} {:.1f} ms, ", t.stage, t.ms);
  return out + fmt::format(
                   "lower to LLVM IR {:.1f} ms, optimise {:.1f} ms, codegen {:.1f} ms, link {:.1f} ms; total {:.1f} ms; "
                   "{} kernels, arena {} bytes; object cache {}{}\n",
                   lowerMs, optimizeMs, codegenMs, linkMs, totalMs(), kernels, arenaBytes,
                   cachePath.empty() ? "off" : cacheHit ? "hit: " : "miss, stored: ", cachePath);
}

namespace {

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::vector<uint8_t> constantBytes(const Node& n) {
  auto& values = std::get<ConstAttrs>(n.attrs).values;
  std::vector<uint8_t> out;
  out.reserve(size_t(n.type.bytes()));
  for (int64_t i = 0; i < n.type.numel(); ++i) {
    double v = values.size() == 1 ? values[0] : values[size_t(i)];
    auto put = [&](auto x) {
      uint8_t buf[sizeof(x)];
      std::memcpy(buf, &x, sizeof(x));
      out.insert(out.end(), buf, buf + sizeof(x));
    };
    switch (n.type.dtype) {
      case DType::F32: put(float(v)); break;
      case DType::F64: put(v); break;
      case DType::I32: put(int32_t(v)); break;
      case DType::Bool: put(uint8_t(v != 0)); break;
    }
  }
  return out;
}

Buffer bufferOf(const Graph& g, NodeId id, const std::string& name, const std::vector<int64_t>& offsets) {
  const Type& t = g[id].type;
  return {name, storedDtype(t.dtype), t.shape, offsets[size_t(id.v)], t.bytes()};
}

/// A kernel's name: its root node and kind, e.g. k12_matmul (unfused kernels keep the node's op name).
std::string kernelName(const Graph& g, const FusedKernel& k) {
  return k.nodes.size() == 1 ? fmt::format("k{}_{}", k.root.v, opName(g[k.root].op)) : fmt::format("k{}_{}_fused", k.root.v, kindName(g, k));
}

/// The graph as compiled (simplified when optimising), its schedule and arena offsets, and its module.
struct Lowered {
  Graph graph;
  std::unique_ptr<llvm::LLVMContext> ctx = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> module;
  std::vector<Kernel> kernels;
  std::vector<int64_t> offsets;
  std::vector<int32_t> kernelOf;  ///< per node: the kernel that writes it, -1 if none
  int64_t arenaBytes = 0;
};

Lowered lower(const Graph& input, const CompileOptions& opts, CompileStats& stats) {
  verifyOrThrow(input);
  PipelineState state{input, {}, {}};
  runPipeline(state, compileStages(opts.optimize), {}, [&](const PassInfo& pass, const PipelineState&, double ms, const std::string&) {
    stats.stages.push_back({pass.name, ms});
  });
  Lowered l;
  l.graph = std::move(state.graph);
  const Graph& g = l.graph;
  l.kernelOf = state.schedule->kernelOf;
  l.offsets = state.plan->offsetOf;
  l.arenaBytes = state.plan->peakBytes;
  auto t0 = std::chrono::steady_clock::now();
  l.module = std::make_unique<llvm::Module>("kiln." + g.name(), *l.ctx);
  KernelEmitter k(*l.module, g, l.offsets);
  for (const FusedKernel& kernel : state.schedule->kernels) {
    std::string name = kernelName(g, kernel);
    int64_t extent = lowerKernel(k, kernel, name);
    l.kernels.push_back({name, nullptr, extent, k.scratchBytes()});
  }
  prepareModule(*l.module);
  stats.lowerMs = msSince(t0);
  stats.kernels = l.kernels.size();
  stats.arenaBytes = l.arenaBytes;
  return l;
}

}  // namespace

std::unique_ptr<Executable> compileGraph(const Graph& input, const CompileOptions& opts, CompileStats* statsOut) {
  CompileStats stats;
  Lowered l = lower(input, opts, stats);
  const Graph& g = l.graph;
  std::vector<std::string> names;
  for (const Kernel& kn : l.kernels) names.push_back(kn.name);
  LinkedCode code = compileAndLink(std::move(l.ctx), std::move(l.module), names, opts, stats);
  ExecutableSpec spec;
  spec.arenaBytes = l.arenaBytes;
  for (Kernel& kn : l.kernels) {
    kn.fn = reinterpret_cast<KernelFn>(code.symbols.at(kn.name));
    spec.kernels.push_back(kn);
  }
  std::map<int32_t, size_t> leafIndex;
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    if (n.op == Op::Input) spec.inputs.push_back(bufferOf(g, NodeId{i}, leafName(n), l.offsets));
    if (n.op == Op::Parameter || n.op == Op::State) {
      leafIndex[i] = spec.leaves.size();
      spec.leaves.push_back(bufferOf(g, NodeId{i}, leafName(n), l.offsets));
    }
    if (n.op == Op::Constant && l.offsets[size_t(i)] >= 0) spec.init.push_back({l.offsets[size_t(i)], constantBytes(n)});
  }
  for (const Output& o : g.outputs()) {
    if (o.aliases.valid()) {
      if (g[o.aliases].op == Op::Input) throw Error(fmt::format("output \"{}\": the JIT cannot alias an input", o.name));
      spec.aliases.push_back({spec.outputs.size(), leafIndex.at(o.aliases.v)});
    }
    spec.outputs.push_back(bufferOf(g, o.node, o.name, l.offsets));
  }
  // When each output is final, and whether the loss is final before any parameter or state changes.
  auto readyAfter = [&](NodeId n) {
    while (g[n].op == Op::Reshape) n = g[n].inputs[0];
    return size_t(l.kernelOf[size_t(n.v)] + 1);
  };
  for (const Output& o : g.outputs()) spec.readyAfter[o.name] = readyAfter(o.node);
  for (const Output& out : g.outputs()) {
    bool untouched = true;  // no update in place is final by the time `out` is
    for (const Output& o : g.outputs())
      if (o.aliases.valid() && l.offsets[size_t(o.node.v)] == l.offsets[size_t(o.aliases.v)] &&
          readyAfter(o.node) <= spec.readyAfter[out.name])
        untouched = false;
    spec.stateUntouchedUntil[out.name] = untouched;
  }
  spec.keepAlive = code.owner;
  if (statsOut) *statsOut = stats;
  return std::make_unique<Executable>(std::move(spec));
}

std::unique_ptr<JitSession> compileSession(const Graph& program, uint64_t seed, const CompileOptions& opts,
                                        CompileStats* stats) {
  auto session = std::make_unique<JitSession>(compileGraph(program, opts, stats));
  for (const auto& [name, value] : initParameters(program, seed)) session->set(name, toStored(value));
  return session;
}

std::string graphLlvmIr(const Graph& g, bool optimized) {
  CompileStats stats;
  Lowered l = lower(g, {}, stats);
  if (optimized) optimizeModule(*l.module);
  return moduleText(*l.module);
}

std::string graphAssembly(const Graph& g) {
  CompileStats stats;
  Lowered l = lower(g, {}, stats);
  optimizeModule(*l.module);
  return emitAssembly(*l.module);
}

}  // namespace kiln
