// Graph -> Executable: the compile stages (compileStages), lowering every kernel of the schedule to an LLVM
// function, compiling and linking the module.
#include "compiler/Pipeline.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <llvm/IR/IRBuilder.h>

#include "compiler/HostTensor.h"
#include "compiler/Jit.h"
#include "compiler/ParamInit.h"
#include "compiler/Lowering.h"
#include "ir/Error.h"
#include "ir/Verifier.h"
#include "passes/PassRegistry.h"
#include "passes/SplitReductions.h"

namespace kiln {

double CompileStats::totalMs() const {
  double ms = lowerMs + compileMs + linkMs;
  for (const StageTime& t : stages) ms += t.ms;
  return ms;
}

std::string CompileStats::report() const {
  std::string out = "compile: ";
  for (const StageTime& t : stages) out += fmt::format("{} {:.1f} ms, ", t.stage, t.ms);
  return out + fmt::format(
                   "lower to LLVM IR {:.1f} ms, optimise {:.1f} ms + codegen {:.1f} ms on {} threads: {:.1f} ms, link "
                   "{:.1f} ms; total {:.1f} ms; {} kernels, {} modules ({} compiled, {} from the cache), arena {} "
                   "bytes; object cache {}\n",
                   lowerMs, optimizeMs, codegenMs, compileThreads, compileMs, linkMs, totalMs(), kernels, units,
                   unitsCompiled, units - unitsCompiled, arenaBytes, cacheDir.empty() ? "off" : cacheDir);
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

/// Columns of C a chunk of a GEMM with a shared op(A) computes at least (see chunksFor).
constexpr int64_t kSharedAColumns = 512;

/// How many chunks threads may split a kernel's outer loop into: about one per 20 microseconds of work
/// (16K elements read or written, or 4 MFLOP of a contraction), at most 64 and at most the extent. From the
/// shape alone, so the chunks are the same at any thread count. A reduction split over its outputs, or a
/// scatter_add over its columns, gives each chunk at least 256 bytes of them (chunks that add into one
/// cache line would fight over it). A GEMM whose op(A) every batch shares (a conv's) gives each chunk
/// batches of at least kSharedAColumns columns of C, since each chunk packs that A again.
int64_t chunksFor(const Graph& g, const FusedKernel& kernel, int64_t extent, bool finest) {
  if (extent <= 1) return 1;
  if (finest) return std::min<int64_t>(extent, 64);
  int64_t limit = std::min<int64_t>(extent, 64);
  double work = 0;
  auto elements = [&](NodeId m) { return double(g[m].type.numel()) / double(kElementsPerChunk); };
  for (NodeId m : kernel.nodes) {
    work = std::max(work, elements(m));
    if (opInfo(g[m].op).cls == OpClass::Reduction) work = std::max(work, elements(g[m].inputs[0]));
    if (std::optional<GemmShape> s = gemmShapeOf(g, m)) {
      work = std::max(work, s->flops() / 4e6);
      // The CNN's second conv, 64 columns a sample: 8 chunks, where 64 one-sample chunks each packing
      // the weights were slowed by a third on 2 threads.
      if (s->aShared)
        limit = std::min(limit, std::max<int64_t>(1, s->batch * s->N / kSharedAColumns));
    }
  }
  const Node& root = g[kernel.root];
  if (kernel.kind == KernelKind::Reduction && std::get<ReduceAttrs>(root.attrs).groups.n == 1)
    limit = std::min<int64_t>(limit, std::max<int64_t>(1, root.type.bytes() / kMinChunkOutputBytes));
  if (root.op == Op::ScatterAdd)  // split over the columns of its rows: at least 256 bytes of a row each
    limit = std::min<int64_t>(limit, std::max<int64_t>(1, extent * dtypeSize(root.type.dtype) / kMinChunkOutputBytes));
  return std::clamp<int64_t>(int64_t(work), 1, limit);
}

/// A kernel's name: its root node and kind, e.g. k12_matmul (unfused kernels keep the node's op name).
std::string kernelName(const Graph& g, const FusedKernel& k) {
  return k.nodes.size() == 1 ? fmt::format("k{}_{}", k.root.v, opName(g[k.root].op)) : fmt::format("k{}_{}_fused", k.root.v, kindName(g, k));
}

/// The graph as compiled (simplified when optimising), its schedule and arena offsets, and its code: one
/// module per distinct kernel body, then the module of entry points.
struct Lowered {
  Graph graph;
  std::vector<CodeUnit> units;
  std::vector<std::vector<std::string>> usersOf;  ///< per body unit: the kernels it runs
  std::vector<Kernel> kernels;
  std::vector<int64_t> offsets;
  std::vector<int32_t> kernelOf;  ///< per node: the kernel that writes it, -1 if none
  int64_t arenaBytes = 0;
};

/// A body's symbol: from its key, so that an object in the cache defines the name every program expects.
std::string bodySymbol(const std::string& key) { return "kbody_" + key.substr(0, 16); }

CodeUnit newUnit(const std::string& name) {
  CodeUnit u;
  u.ctx = std::make_unique<llvm::LLVMContext>();
  u.module = std::make_unique<llvm::Module>(name, *u.ctx);
  return u;
}

/// One kernel's call into its body: its entry point's name, the body's symbol and the arena offset of each
/// buffer the body takes.
struct EntryPoint {
  std::string name, body;
  std::vector<int64_t> offsets;
};

/// The module of entry points: each `i32 name(ptr arena, ptr scratch, i64 begin, i64 end)` (the runtime's
/// ABI) calls its body with arena + offset for each buffer.
CodeUnit entryPoints(const std::string& graphName, const std::vector<EntryPoint>& entries) {
  CodeUnit u = newUnit("kiln." + graphName);
  llvm::IRBuilder<> b(*u.ctx);
  llvm::Type *ptr = b.getPtrTy(), *i64 = b.getInt64Ty();
  auto* abi = llvm::FunctionType::get(b.getInt32Ty(), {ptr, ptr, i64, i64}, false);
  for (const EntryPoint& e : entries) {
    std::vector<llvm::Type*> params(e.offsets.size(), ptr);
    params.insert(params.end(), {ptr, i64, i64});
    llvm::FunctionCallee body = u.module->getOrInsertFunction(e.body, llvm::FunctionType::get(b.getInt32Ty(), params, false));
    llvm::Function* f = llvm::Function::Create(abi, llvm::Function::ExternalLinkage, e.name, *u.module);
    f->addFnAttr(llvm::Attribute::NoUnwind);
    f->addParamAttr(0, llvm::Attribute::NoAlias);
    f->addParamAttr(1, llvm::Attribute::NoAlias);
    b.SetInsertPoint(llvm::BasicBlock::Create(*u.ctx, "entry", f));
    std::vector<llvm::Value*> args;
    for (int64_t o : e.offsets) args.push_back(b.CreateInBoundsGEP(b.getInt8Ty(), f->getArg(0), b.getInt64(uint64_t(o))));
    for (unsigned i = 1; i < 4; ++i) args.push_back(f->getArg(i));
    llvm::CallInst* call = b.CreateCall(body, args);
    call->setTailCall();
    b.CreateRet(call);
  }
  u.key = codeKey(*u.module);
  prepareModule(*u.module);
  return u;
}

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
  std::map<std::string, size_t> unitOf;  // body key -> its unit
  std::vector<EntryPoint> entries;
  for (const FusedKernel& kernel : state.schedule->kernels) {
    std::string name = kernelName(g, kernel);
    CodeUnit u = newUnit("kiln.kernel");
    KernelEmitter k(*u.module, g, l.offsets);
    int64_t extent = lowerKernel(k, kernel, "kernel");  // one name for all, so equal bodies print alike
    l.kernels.push_back({name, nullptr, extent, k.scratchBytes(), chunksFor(g, kernel, extent, opts.finestChunks)});
    u.key = codeKey(*u.module);  // before prepareModule: what it adds comes from the host, which the key holds
    prepareModule(*u.module);
    auto [it, fresh] = unitOf.emplace(u.key, l.units.size());
    std::string body = bodySymbol(u.key);
    if (fresh) {
      u.module->getFunction("kernel")->setName(body);
      l.units.push_back(std::move(u));
      l.usersOf.emplace_back();
    }
    l.usersOf[it->second].push_back(name);
    entries.push_back({name, body, k.bufferOffsets()});
  }
  l.units.push_back(entryPoints(g.name(), entries));
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
  LinkedCode code = compileAndLink(std::move(l.units), names, opts, stats);
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
  auto exe = std::make_unique<Executable>(std::move(spec));
  if (opts.threads > 0) exe->setThreads(opts.threads);
  return exe;
}

std::unique_ptr<JitSession> compileSession(const Graph& program, uint64_t seed, const CompileOptions& opts,
                                        CompileStats* stats) {
  auto session = std::make_unique<JitSession>(compileGraph(program, opts, stats));
  for (const auto& [name, value] : initParameters(program, seed)) session->set(name, toStored(value));
  return session;
}

namespace {

/// Each module of `g`'s code, the entry points first, as `print` writes it (optimised first when asked),
/// after a `comment` line counting them, each body headed by one naming it and the kernels that run it.
std::string printUnits(const Graph& g, bool optimized, const std::string& comment,
                       const std::function<std::string(llvm::Module&)>& print) {
  CompileStats stats;
  Lowered l = lower(g, {}, stats);
  std::string out = fmt::format("{} {} kernels: entry points with the runtime's ABI, calling {} distinct bodies\n", comment,
                                l.kernels.size(), l.units.size() - 1);
  for (size_t i = l.units.size(); i-- > 0;) {
    if (optimized) optimizeModule(*l.units[i].module);
    if (i < l.usersOf.size())
      out += fmt::format("\n{} body {}, run by {}\n", comment, bodySymbol(l.units[i].key), fmt::join(l.usersOf[i], ", "));
    out += print(*l.units[i].module);
  }
  return out;
}

}  // namespace

std::string graphLlvmIr(const Graph& g, bool optimized) {
  return printUnits(g, optimized, ";", [](llvm::Module& m) { return moduleText(m); });
}

std::string graphAssembly(const Graph& g) { return printUnits(g, true, "#", emitAssembly); }

}  // namespace kiln
