// The LLVM side of kiln: the host target, the optimisation pipeline, object emission, the on-disk object
// cache (one object per module), compiling modules in parallel, and ORC LLJIT linking. Every LLVM failure
// becomes a kiln::Error. Included only inside compiler/.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "compiler/Pipeline.h"

namespace kiln {

/// The host CPU as LLVM names it, and a target machine for it.
struct HostTarget {
  std::string triple, cpu, features;  ///< e.g. "x86_64-unknown-linux-gnu", "znver3", "+avx2,+fma,-avx512f,..."
  bool avx512 = false;                ///< the host has AVX-512F (kernels then prefer 512-bit vectors)
  std::unique_ptr<llvm::TargetMachine> machine;  ///< for the host, at the aggressive optimisation level
};
/// Initialises LLVM's native target (once) and describes the host.
HostTarget& hostTarget();
/// A new target machine for the host, for a thread of its own (LLVM's are not shared between threads).
std::unique_ptr<llvm::TargetMachine> hostMachine();

/// Sets the module's triple and data layout, and each function's target-cpu, target-features and (on
/// AVX-512 hosts) prefer-vector-width=512.
void prepareModule(llvm::Module& m);
/// The O3 pipeline with the loop vectoriser on, the SLP vectoriser and loop unrolling off.
void optimizeModule(llvm::Module& m, llvm::TargetMachine& tm = *hostTarget().machine);
/// The module as an object file for the host.
std::vector<char> emitObject(llvm::Module& m, llvm::TargetMachine& tm = *hostTarget().machine);
/// The module as host assembly text.
std::string emitAssembly(llvm::Module& m);
/// The module as LLVM IR text.
std::string moduleText(const llvm::Module& m);

/// Compiled code: keeps the JIT alive and maps kernel names to entry points.
struct LinkedCode {
  std::shared_ptr<void> owner;           ///< the LLJIT holding the code; the pointers live as long as it
  std::map<std::string, void*> symbols;  ///< entry point of each requested symbol
};
/// One module of a compiled graph, in an LLVM context of its own so that modules compile in parallel.
struct CodeUnit {
  std::unique_ptr<llvm::LLVMContext> ctx;  ///< the unit's own context (destroyed after its module)
  std::unique_ptr<llvm::Module> module;     ///< a kernel body, or the entry points
  std::string key;  ///< codeKey of its unoptimised IR: its object's name in the cache
};
/// A 128-bit hash (32 hex digits) of the module's bitcode (exact, and four times faster to write than its
/// text), the host and the code generator's version: equal keys, equal objects.
std::string codeKey(const llvm::Module& m);
/// Optimises and compiles every unit (or loads its object from the cache), on opts.threads threads, links
/// them with LLJIT and looks up `symbols`. Fills the optimise / codegen / link times and the cache fields
/// of `stats`.
LinkedCode compileAndLink(std::vector<CodeUnit> units, const std::vector<std::string>& symbols,
                          const CompileOptions& opts, CompileStats& stats);

}  // namespace kiln
