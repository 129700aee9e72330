// LLVM target set-up, optimisation, object emission, the object cache and ORC LLJIT.
#include "compiler/Jit.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>
#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Support/xxhash.h>
#include <llvm/TargetParser/Host.h>

#include "ir/Error.h"
#include "runtime/Safetensors.h"
#include "runtime/ThreadPool.h"

namespace kiln {

namespace {

std::string errorText(llvm::Error e) { return llvm::toString(std::move(e)); }

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::string defaultCacheDir() {
  if (const char* x = std::getenv("KILN_CACHE_DIR"); x && *x) return x;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/kiln";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/kiln";
  return "/tmp/kiln-cache";
}

std::unique_ptr<llvm::TargetMachine> makeMachine(const HostTarget& h) {
  std::string err;
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget(h.triple, err);
  KILN_ASSERT(t != nullptr, "no LLVM target for the host: " + err);
  llvm::TargetOptions opts;
  std::unique_ptr<llvm::TargetMachine> tm(t->createTargetMachine(h.triple, h.cpu, h.features, opts, llvm::Reloc::PIC_,
                                                                 std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  KILN_ASSERT(tm != nullptr, "cannot create an LLVM target machine for the host");
  return tm;
}

}  // namespace

HostTarget& hostTarget() {
  static HostTarget host = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();  // without it the first lookup fails: "Target does not support MC emission"
    llvm::InitializeNativeTargetAsmParser();
    HostTarget h;
    h.triple = llvm::sys::getProcessTriple();
    h.cpu = llvm::sys::getHostCPUName().str();
    std::vector<std::string> feats;
    for (auto& f : llvm::sys::getHostCPUFeatures()) {
      feats.push_back((f.second ? "+" : "-") + f.first().str());
      if (f.first() == "avx512f" && f.second) h.avx512 = true;
    }
    std::sort(feats.begin(), feats.end());
    for (const std::string& f : feats) h.features += (h.features.empty() ? "" : ",") + f;
    h.machine = makeMachine(h);
    return h;
  }();
  return host;
}

std::unique_ptr<llvm::TargetMachine> hostMachine() {
  HostTarget& h = hostTarget();
  static std::mutex lock;  // the target registry is read by one thread at a time
  std::lock_guard<std::mutex> guard(lock);
  return makeMachine(h);
}

void prepareModule(llvm::Module& m) {
  HostTarget& h = hostTarget();
  m.setTargetTriple(h.triple);
  m.setDataLayout(h.machine->createDataLayout());
  for (llvm::Function& f : m) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", h.cpu);
    f.addFnAttr("target-features", h.features);
    if (h.avx512) f.addFnAttr("prefer-vector-width", "512");  // else LLVM stays at 256 bits
  }
}

void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  // No unrolling by LLVM: kernels unroll what pays themselves (the GEMM micro-kernel's tile, the vectoriser's
  // interleave). LLVM's full unrolling of constant trip counts turned a 256-wide row sum into 7,000 lines and
  // doubled the GPT step's compile time (7.9 s -> 3.9 s without it) for no measured speed.
  pto.LoopUnrolling = false;
  // The SLP vectorizer stays off: Debian's LLVM 19.1 miscompiles some fully unrolled f64 kernels with it,
  // storing poison lanes of a shuffle it built (found by kiln fuzz-programs, seed 100332; LLVM issues
  // #117170 and #113425 describe the same class of bug, fixed after 19.1). The loop vectorizer still
  // vectorises every kernel's loops; see tests/DifferentialTest.cpp for the reproduction.
  pto.SLPVectorization = false;
  llvm::PassBuilder pb(&tm, pto);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

static std::vector<char> emit(llvm::Module& m, llvm::CodeGenFileType type, llvm::TargetMachine& tm) {
  llvm::SmallVector<char, 0> buf;
  llvm::raw_svector_ostream os(buf);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, type))
    throw Error("LLVM cannot emit code for this host");
  pm.run(m);
  return std::vector<char>(buf.begin(), buf.end());
}

std::vector<char> emitObject(llvm::Module& m, llvm::TargetMachine& tm) {
  return emit(m, llvm::CodeGenFileType::ObjectFile, tm);
}

std::string emitAssembly(llvm::Module& m) {
  std::vector<char> text = emit(m, llvm::CodeGenFileType::AssemblyFile, *hostTarget().machine);
  return std::string(text.begin(), text.end());
}

std::string moduleText(const llvm::Module& m) {
  std::string s;
  llvm::raw_string_ostream os(s);
  m.print(os, nullptr);
  return s;
}

std::string codeKey(const llvm::Module& m) {
  HostTarget& host = hostTarget();
  std::string bytes;
  llvm::raw_string_ostream os(bytes);
  llvm::WriteBitcodeToFile(m, os);
  os << "\n" << host.triple << "\n" << host.cpu << "\n" << host.features << "\nkiln-codegen-9";
  llvm::XXH128_hash_t h = llvm::xxh3_128bits(llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

namespace {

/// The object of each unit: read from the cache, or optimised and emitted by `threads` threads of the
/// runtime's pool (each with a target machine of its own; a unit's context is its own, so they share
/// nothing), then stored.
std::vector<std::vector<char>> compileUnits(std::vector<CodeUnit>& units, const CompileOptions& opts,
                                            const std::string& dir, CompileStats& stats) {
  std::vector<std::vector<char>> objects(units.size());
  std::vector<size_t> todo;
  for (size_t i = 0; i < units.size(); ++i) {
    if (opts.useCache) {
      std::ifstream in(dir + "/" + units[i].key + ".o", std::ios::binary);
      if (in) objects[i].assign(std::istreambuf_iterator<char>(in), {});
    }
    if (objects[i].empty()) todo.push_back(i);
  }
  std::vector<double> optimizeMs(units.size()), codegenMs(units.size());
  std::atomic<size_t> next{0};
  std::mutex failLock;
  std::exception_ptr failure;
  auto work = [&] {
    try {
      std::unique_ptr<llvm::TargetMachine> tm = hostMachine();
      for (size_t t; (t = next++) < todo.size();) {
        CodeUnit& u = units[todo[t]];
        auto t0 = std::chrono::steady_clock::now();
        optimizeModule(*u.module, *tm);
        optimizeMs[todo[t]] = msSince(t0);
        t0 = std::chrono::steady_clock::now();
        objects[todo[t]] = emitObject(*u.module, *tm);
        codegenMs[todo[t]] = msSince(t0);
      }
    } catch (...) {
      std::lock_guard<std::mutex> guard(failLock);
      if (!failure) failure = std::current_exception();
      next = todo.size();
    }
  };
  size_t threads = opts.threads > 0 ? size_t(opts.threads) : size_t(defaultThreads());
  threads = std::min(threads, todo.size());
  auto t0 = std::chrono::steady_clock::now();
  // On the runtime's pool: each of its threads runs `work`, taking units until none is left.
  if (threads > 0) ThreadPool::shared().run(int(threads), int64_t(threads), [&](int64_t, int) { work(); });
  if (failure) std::rethrow_exception(failure);
  stats.compileMs = msSince(t0);
  stats.compileThreads = threads;
  for (size_t i : todo) {
    stats.optimizeMs += optimizeMs[i];
    stats.codegenMs += codegenMs[i];
  }
  stats.units = units.size();
  stats.unitsCompiled = todo.size();
  stats.cacheHit = todo.empty();
  if (opts.useCache && !todo.empty()) {  // best effort: a cache that cannot be written only costs time
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    for (size_t i : todo) {
      try {
        writeFileAtomic(dir + "/" + units[i].key + ".o", std::vector<uint8_t>(objects[i].begin(), objects[i].end()));
      } catch (const Error&) {
      }
    }
  }
  return objects;
}

}  // namespace

LinkedCode compileAndLink(std::vector<CodeUnit> units, const std::vector<std::string>& symbols,
                          const CompileOptions& opts, CompileStats& stats) {
  for (CodeUnit& u : units) {
    std::string verifyErr;
    llvm::raw_string_ostream verr(verifyErr);
    if (llvm::verifyModule(*u.module, &verr)) throw Error("internal: kiln emitted invalid LLVM IR: " + verifyErr);
  }
  std::string dir = opts.cacheDir.empty() ? defaultCacheDir() : opts.cacheDir;
  std::vector<std::vector<char>> objects = compileUnits(units, opts, dir, stats);
  stats.cacheDir = opts.useCache ? dir : "";
  units.clear();  // each module before its context
  auto t0 = std::chrono::steady_clock::now();
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit) throw Error("LLVM JIT: " + errorText(jit.takeError()));
  std::shared_ptr<llvm::orc::LLJIT> owner(std::move(*jit));
  owner->getExecutionSession().setErrorReporter([](llvm::Error e) {
    // ORC reports details here; the failing lookup then says only "Failed to materialize".
    llvm::errs() << "kiln: LLVM JIT: " << llvm::toString(std::move(e)) << "\n";
  });
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(owner->getDataLayout().getGlobalPrefix());
  if (!gen) throw Error("LLVM JIT: " + errorText(gen.takeError()));
  owner->getMainJITDylib().addGenerator(std::move(*gen));
  for (size_t i = 0; i < objects.size(); ++i) {
    auto buffer = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(objects[i].data(), objects[i].size()),
                                                       fmt::format("kiln-unit-{}", i));
    if (auto e = owner->addObjectFile(std::move(buffer))) throw Error("LLVM JIT: " + errorText(std::move(e)));
  }
  LinkedCode code;
  for (const std::string& s : symbols) {
    auto addr = owner->lookup(s);
    if (!addr) throw Error(fmt::format("LLVM JIT: kernel {}: {}", s, errorText(addr.takeError())));
    code.symbols[s] = addr->toPtr<void*>();
  }
  stats.linkMs = msSince(t0);
  code.owner = owner;
  return code;
}

}  // namespace kiln
