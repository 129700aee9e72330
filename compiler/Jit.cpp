// LLVM target set-up, optimisation, object emission, the object cache and ORC LLJIT.
#include "compiler/Jit.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <fmt/format.h>
#include <llvm/Analysis/CGSCCPassManager.h>
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
#include <llvm/TargetParser/Host.h>

#include "ir/Error.h"
#include "runtime/Safetensors.h"

namespace kiln {

namespace {

std::string errorText(llvm::Error e) { return llvm::toString(std::move(e)); }

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

/// 64-bit FNV-1a over text, printed as hex: the cache key.
std::string contentHash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return fmt::format("{:016x}", h);
}

std::string defaultCacheDir() {
  if (const char* x = std::getenv("KILN_CACHE_DIR"); x && *x) return x;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/kiln";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/kiln";
  return "/tmp/kiln-cache";
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
    std::string err;
    const llvm::Target* t = llvm::TargetRegistry::lookupTarget(h.triple, err);
    KILN_ASSERT(t != nullptr, "no LLVM target for the host: " + err);
    llvm::TargetOptions opts;
    h.machine.reset(t->createTargetMachine(h.triple, h.cpu, h.features, opts, llvm::Reloc::PIC_, std::nullopt,
                                           llvm::CodeGenOptLevel::Aggressive));
    KILN_ASSERT(h.machine != nullptr, "cannot create an LLVM target machine for the host");
    return h;
  }();
  return host;
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

void optimizeModule(llvm::Module& m) {
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
  llvm::PassBuilder pb(hostTarget().machine.get(), pto);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

static std::vector<char> emit(llvm::Module& m, llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> buf;
  llvm::raw_svector_ostream os(buf);
  llvm::legacy::PassManager pm;
  if (hostTarget().machine->addPassesToEmitFile(pm, os, nullptr, type))
    throw Error("LLVM cannot emit code for this host");
  pm.run(m);
  return std::vector<char>(buf.begin(), buf.end());
}

std::vector<char> emitObject(llvm::Module& m) { return emit(m, llvm::CodeGenFileType::ObjectFile); }

std::string emitAssembly(llvm::Module& m) {
  std::vector<char> text = emit(m, llvm::CodeGenFileType::AssemblyFile);
  return std::string(text.begin(), text.end());
}

std::string moduleText(const llvm::Module& m) {
  std::string s;
  llvm::raw_string_ostream os(s);
  m.print(os, nullptr);
  return s;
}

LinkedCode compileAndLink(std::unique_ptr<llvm::LLVMContext> ctx, std::unique_ptr<llvm::Module> m,
                          const std::vector<std::string>& symbols, const CompileOptions& opts, CompileStats& stats) {
  std::string verifyErr;
  llvm::raw_string_ostream verr(verifyErr);
  if (llvm::verifyModule(*m, &verr)) throw Error("internal: kiln emitted invalid LLVM IR: " + verifyErr);
  HostTarget& host = hostTarget();
  std::string key = contentHash(moduleText(*m) + "\n" + host.cpu + "\n" + host.features + "\nkiln-codegen-8");
  std::string dir = opts.cacheDir.empty() ? defaultCacheDir() : opts.cacheDir;
  std::string path = dir + "/" + key + ".o";
  std::vector<char> object;
  stats.cacheHit = false;
  if (opts.useCache) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      object.assign(std::istreambuf_iterator<char>(in), {});
      stats.cacheHit = !object.empty();
    }
  }
  if (!stats.cacheHit) {
    auto t0 = std::chrono::steady_clock::now();
    optimizeModule(*m);
    stats.optimizeMs = msSince(t0);
    t0 = std::chrono::steady_clock::now();
    object = emitObject(*m);
    stats.codegenMs = msSince(t0);
    if (opts.useCache) {  // best effort: a cache that cannot be written only costs time
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      try {
        writeFileAtomic(path, std::vector<uint8_t>(object.begin(), object.end()));
      } catch (const Error&) {
      }
    }
  }
  stats.cachePath = opts.useCache ? path : "";
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
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object.data(), object.size()), key);
  if (auto e = owner->addObjectFile(std::move(buffer))) throw Error("LLVM JIT: " + errorText(std::move(e)));
  LinkedCode code;
  for (const std::string& s : symbols) {
    auto addr = owner->lookup(s);
    if (!addr) throw Error(fmt::format("LLVM JIT: kernel {}: {}", s, errorText(addr.takeError())));
    code.symbols[s] = addr->toPtr<void*>();
  }
  stats.linkMs = msSince(t0);
  code.owner = owner;
  m.reset();  // the module before its context
  ctx.reset();
  return code;
}

}  // namespace kiln
