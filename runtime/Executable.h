// Executable: a compiled graph as the runtime sees it — one arena, a table of kernels, and where every
// named buffer lives in the arena. The runtime knows nothing of ops or LLVM: running is calling each
// kernel over its range, in order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/Safetensors.h"

namespace kiln {

/// The kernel ABI: computes iterations [begin, end) of the kernel's outer loop over the arena, with
/// `scratch` (at least Kernel::scratchBytes, 64-byte aligned) for its temporaries. Returns 0, or a
/// KernelStatus code.
using KernelFn = int32_t (*)(char* arena, char* scratch, int64_t begin, int64_t end);

/// Why a kernel stopped.
enum KernelStatus : int32_t {
  kKernelOk = 0,                ///< no failure
  kKernelIndexOutOfRange = 1,   ///< gather / scatter_add with an index outside the table
  kKernelDivisionByZero = 2,    ///< integer division by zero
  kKernelCastOutOfRange = 3,    ///< a float that is NaN or does not fit in i32, cast to i32
};
/// A message for a status code.
const char* kernelStatusMessage(int32_t status);

/// One kernel: its name (for errors and profiles), entry point and the extent of its outer loop.
struct Kernel {
  std::string name;       ///< its symbol in the compiled code
  KernelFn fn = nullptr;  ///< entry point, valid while ExecutableSpec::keepAlive lives
  int64_t extent = 1;     ///< iterations of its outer loop: run passes [0, extent)
  int64_t scratchBytes = 0;  ///< scratch memory it needs (GEMM packing panels), 64-byte aligned
  /// Pieces of [0, extent) that threads may run apart: chunk c is [c * extent / chunks, (c + 1) * extent /
  /// chunks). The compiler fixes it from the shape; the iterations are independent, so any split gives
  /// the same bits.
  int64_t chunks = 1;
};

/// A named region of the arena with its element type (safetensors dtype name) and shape.
struct Buffer {
  std::string name;            ///< the input, leaf or output name of the graph
  std::string dtype;           ///< "F32", "F64", "I32" or "BOOL"
  std::vector<int64_t> shape;  ///< dimensions, outermost first
  int64_t offset = 0, bytes = 0;  ///< where it starts in the arena, and its exact size (no padding)
};

/// Bytes copied into the arena when it is created (constants).
struct InitData {
  int64_t offset = 0;          ///< where in the arena
  std::vector<uint8_t> bytes;  ///< what, as the kernels read it (little-endian elements)
};

/// Everything the compiler hands the runtime.
struct ExecutableSpec {
  int64_t arenaBytes = 0;       ///< the arena's size (the memory plan's peak)
  std::vector<Kernel> kernels;  ///< in the order they run
  std::vector<Buffer> inputs;     ///< fed at every run
  std::vector<Buffer> leaves;     ///< parameters and state: persist across runs
  std::vector<Buffer> outputs;    ///< readable after a run
  std::vector<std::pair<size_t, size_t>> aliases;  ///< (output index, leaf index): copy after a run
  std::vector<InitData> init;     ///< copied in once, when the arena is made (constants)
  std::shared_ptr<void> keepAlive;  ///< owns the code the kernel pointers point into
  /// For each output: how many kernels must run before it holds its final value (0: before any).
  std::map<std::string, size_t> readyAfter;
  /// For each output: whether its first readyAfter kernels leave every parameter and state leaf untouched
  /// (updates in place come later), so that a step can stop after them, its loss checked, with no state
  /// changed.
  std::map<std::string, bool> stateUntouchedUntil;
};

/// A compiled graph with its arena.
class Executable {
 public:
  /// With KILN_PROFILE set in the environment, prints the time spent in each kernel (most first).
  ~Executable();
  /// Allocates the arena (64-byte aligned, zeroed) and copies `spec.init` into it. Parameters and state
  /// start as zeros until set (compileSession initialises them).
  explicit Executable(ExecutableSpec spec);

  /// Copies a tensor into input or leaf `name`; Error for an unknown name or a wrong dtype or shape.
  void set(const std::string& name, const StoredTensor& value);
  /// A copy of input or leaf `name` (a leaf and the output that replaces it share a name).
  StoredTensor get(const std::string& name) const;
  /// A copy of output `name`, as the last run left it.
  StoredTensor output(const std::string& name) const;
  /// Runs every kernel in order; Error naming the kernel if one fails. Aliased leaves not updated in place
  /// are updated by commitAliases() (after checking the outputs, e.g. that the loss is finite).
  void run() { run(0, spec_.kernels.size()); }
  /// Runs kernels [begin, end).
  void run(size_t begin, size_t end);
  /// The threads that run the kernels' chunks (1 to 256; the default is defaultThreads()). Results are the
  /// same bits at any count.
  void setThreads(int threads);
  /// The threads setThreads chose.
  int threads() const { return threads_; }
  /// Copies every aliasing output into the leaf it replaces.
  void commitAliases();

  /// What the compiler handed over: kernels, buffers, aliases.
  const ExecutableSpec& spec() const { return spec_; }
  /// The raw arena (for tests and profiling).
  char* arena() { return arena_.get(); }

 private:
  const Buffer* find(const std::vector<const std::vector<Buffer>*>& lists, const std::string& name) const;
  StoredTensor copyOut(const Buffer& b) const;

  ExecutableSpec spec_;
  std::unique_ptr<char, void (*)(void*)> arena_;
  int threads_ = 1;
  int scratchThreads_ = 1;     // threads the scratch has room for
  int64_t scratchStride_ = 0;  // bytes of scratch per thread: the largest any kernel needs
  std::unique_ptr<char, void (*)(void*)> scratch_;  // one stride per thread
  std::vector<int32_t> chunkStatus_;
  /// Runs kernel i on the threads, chunk by chunk; the status of its lowest failing chunk.
  int32_t runChunks(const Kernel& k);
  std::vector<double> profile_;  // with KILN_PROFILE set: milliseconds spent in each kernel
};

}  // namespace kiln
