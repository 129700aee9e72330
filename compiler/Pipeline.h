// The compiler pipeline: Graph -> verify -> the stages of compileStages (simplify, split-reductions, fuse,
// plan-memory) -> one LLVM function per kernel -> optimised machine code (ORC LLJIT, with an on-disk
// object cache) -> an Executable for the runtime. No LLVM types here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/Graph.h"
#include "runtime/Executable.h"
#include "runtime/Session.h"

namespace kiln {

/// How to compile.
struct CompileOptions {
  bool useCache = true;   ///< reuse compiled objects from cacheDir (keyed by a hash of the IR and the host)
  std::string cacheDir;   ///< default: $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln
  bool optimize = true;   ///< simplify, fuse and plan memory; off: one kernel per node, every value its own buffer
  int threads = 0;        ///< threads that compile the modules and run the kernels' chunks; 0: defaultThreads()
  /// Split every kernel into as many chunks as its outer loop allows (at most 64), however little work
  /// each gets: for tests that hold every lowering's iterations independent of each other.
  bool finestChunks = false;
};

/// The time one stage took.
struct StageTime {
  std::string stage;  ///< the pass's registered name
  double ms = 0;      ///< wall time, milliseconds
};

/// What compiling cost, per stage (milliseconds), and how much of the code came from the cache.
struct CompileStats {
  std::vector<StageTime> stages;  ///< the graph stages (compileStages), in order
  double lowerMs = 0;      ///< to LLVM IR (every kernel's body, compared, and the entry points)
  double optimizeMs = 0, codegenMs = 0;  ///< O3 and object code, summed over the modules compiled (all threads)
  double compileMs = 0;    ///< wall time of optimising and emitting the modules on compileThreads threads
  double linkMs = 0;       ///< LLJIT
  size_t compileThreads = 0;  ///< threads that compiled (0: every module came from the cache)
  size_t units = 0;        ///< modules: one per distinct kernel body, and one of entry points
  size_t unitsCompiled = 0;  ///< modules optimised and emitted (the rest came from the cache)
  bool cacheHit = false;   ///< every module came from the cache
  std::string cacheDir;    ///< the object cache's folder; empty when the cache is off
  size_t kernels = 0;      ///< kernels in the executable
  int64_t arenaBytes = 0;  ///< the arena's size (the memory plan's peak)
  /// The sum over every stage.
  double totalMs() const;
  /// One line per stage, for --time-passes.
  std::string report() const;
};

/// Compiles `g` (which must verify) into an executable: the stages of compileStages(opts.optimize) --
/// simplify, fuse (kernels of several nodes, their intermediates in registers), plan memory (one arena,
/// offsets by liveness, in-place updates) -- then one LLVM body per distinct kernel (kernels that differ
/// only in their arena offsets share it), each in a module of its own, compiled in parallel and cached
/// per module, and one entry point per kernel that passes its body its buffers. Without opts.optimize:
/// one kernel per node, each value at its own offset.
std::unique_ptr<Executable> compileGraph(const Graph& g, const CompileOptions& opts = {}, CompileStats* stats = nullptr);

/// Compiles a training program into a session whose parameters and state are initialised as the program
/// declares, from `seed` (the same values the interpreter's session starts from).
std::unique_ptr<JitSession> compileSession(const Graph& program, uint64_t seed, const CompileOptions& opts = {},
                                        CompileStats* stats = nullptr);

/// The LLVM IR of `g`'s kernels as text, before or after the O3 pipeline: the module of entry points,
/// then each body's module with the kernels that use it.
std::string graphLlvmIr(const Graph& g, bool optimized);
/// The host assembly of `g`'s kernels.
std::string graphAssembly(const Graph& g);

}  // namespace kiln
