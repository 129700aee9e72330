// KernelEmitter: the small vocabulary every kernel is written in — typed loads and stores at an element
// index of a node's arena buffer, counted loops, constants, scratch memory, and a status for run-time
// errors. What it emits is a kernel's body, `i32 body(ptr buf0, ..., ptr bufN, ptr scratch, i64 begin,
// i64 end)`: one pointer per distinct buffer the kernel touches (noalias, aligned as its arena offset), no
// arena offset in it, so kernels that differ only in where their buffers live (the layers of a model) have
// the same body and compile once. compiler/Pipeline.cpp gives each kernel an entry point with the runtime's
// ABI, `i32 kernel(ptr arena, ptr scratch, i64 begin, i64 end)` (KernelFn in runtime/Executable.h), that
// passes the body its buffers.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include "ir/Graph.h"
#include "runtime/Executable.h"

namespace kiln {

/// Emits kernel bodies into a module.
class KernelEmitter {
 public:
  /// `offsets` gives each node's byte offset in the arena.
  KernelEmitter(llvm::Module& m, const Graph& g, const std::vector<int64_t>& offsets);

  /// Starts body function `name`; rangeBegin()/rangeEnd() are its outer-loop bounds.
  void beginKernel(const std::string& name);
  /// Returns the status, marks which buffer each load and store reads or writes (alias scopes), and
  /// closes the function, giving it one pointer parameter per buffer (see bufferOffsets).
  void endKernel();
  /// The arena offsets of the last kernel's buffer parameters, in parameter order (read after endKernel):
  /// the entry point passes `arena + bufferOffsets()[i]` as parameter i.
  const std::vector<int64_t>& bufferOffsets() const { return bufferOffsets_; }

  /// The IR builder, positioned in the kernel being emitted.
  llvm::IRBuilder<>& b() { return b_; }
  /// The module's LLVM context.
  llvm::LLVMContext& ctx() { return m_.getContext(); }
  /// The module kernels go into.
  llvm::Module& module() { return m_; }
  /// The graph whose nodes the kernels compute.
  const Graph& graph() const { return g_; }
  /// The current kernel's `begin` argument (i64): the first outer-loop iteration to run.
  llvm::Value* rangeBegin() const { return begin_; }
  /// The current kernel's `end` argument (i64): one past the last outer-loop iteration to run.
  llvm::Value* rangeEnd() const { return end_; }
  /// A region of `bytes` of the current kernel's scratch memory (64-byte aligned), after those reserved
  /// before it: its address.
  llvm::Value* scratch(int64_t bytes);
  /// The scratch bytes the last kernel reserved (read after endKernel; the runtime provides them).
  int64_t scratchBytes() const { return scratchBytes_; }

  /// An i64 constant.
  llvm::Value* c64(int64_t v);
  /// A constant of value type `t` (see valueType).
  llvm::Value* constant(DType t, double v);
  /// How elements are stored: f32, f64, i32, i8 (bool).
  llvm::Type* storageType(DType t);
  /// How elements are computed on: f32, f64, i32, i1 (bool).
  llvm::Type* valueType(DType t);

  /// Element `index` (i64) of node `id`'s buffer, as a value type.
  llvm::Value* load(NodeId id, llvm::Value* index);
  /// Stores `v` (a value type) at element `index` of node `id`'s buffer.
  void store(NodeId id, llvm::Value* index, llvm::Value* v);
  /// The address of element `index` of node `id`'s buffer.
  llvm::Value* address(NodeId id, llvm::Value* index);
  /// Elements index.. of node `id`'s buffer as a vector of `mask`'s lanes (value types); lanes off the
  /// mask are not read and are 0.
  llvm::Value* loadVector(NodeId id, llvm::Value* index, llvm::Value* mask);
  /// Stores the lanes of vector `v` that `mask` holds at elements index.. of node `id`'s buffer.
  void storeVector(NodeId id, llvm::Value* index, llvm::Value* v, llvm::Value* mask);
  /// Asks for the cache line of element `index` of each distinct buffer of `reads` and `writes` (nodes
  /// sharing a buffer, as a parameter and its update, ask once), those of `writes` for writing.
  void prefetch(const std::vector<NodeId>& reads, const std::vector<NodeId>& writes, llvm::Value* index);

  /// for (i = lo; i < hi; ++i) body(i), with i64 bounds. With `keepRolled`, LLVM may not unroll it (a loop
  /// over GEMM tiles whose body is already large: fully unrolled, codegen takes seconds).
  void loop(llvm::Value* lo, llvm::Value* hi, const std::function<void(llvm::Value*)>& body, bool keepRolled = false);
  /// for (i = 0; i < n; ++i) body(i).
  void loop(int64_t n, const std::function<void(llvm::Value*)>& body) { loop(c64(0), c64(n), body); }
  /// Nested loops over `shape` (outermost first); body receives one index per dim. An empty shape runs once.
  /// With `keepRolled`, none of them is unrolled (see loop).
  void loopNest(const Shape& shape, const std::function<void(const std::vector<llvm::Value*>&)>& body,
                bool keepRolled = false);
  /// Bounds [lo, hi) per dim, i64.
  using Bounds = std::vector<std::pair<llvm::Value*, llvm::Value*>>;
  /// Nested loops over `bounds` (outermost first), as loopNest.
  void boundedNest(const Bounds& bounds, const std::function<void(const std::vector<llvm::Value*>&)>& body,
                   bool keepRolled = false);
  /// The first of `rows` rows in run `g` of `groups` runs, g * rows / groups (groupBegin of ir/Attrs.h).
  llvm::Value* groupBegin(llvm::Value* g, int64_t rows, int64_t groups);
  /// Emits `then` where `cond` (i1) holds and `otherwise` where it does not, joining after both.
  void ifElse(llvm::Value* cond, const std::function<void()>& then, const std::function<void()>& otherwise);
  /// Emits `body` where `cond` holds (an empty else, which LLVM folds away).
  void when(llvm::Value* cond, const std::function<void()>& body) { ifElse(cond, body, [] {}); }
  /// If `cond` (i1) holds, the kernel returns `status` (the first failure wins; the loop carries on).
  void failIf(llvm::Value* cond, KernelStatus status);
  /// Transposes in registers the n x n matrix whose rows are the n vectors `rows` (n a power of two): log2(n)
  /// rounds, each swapping the off-diagonal h x h blocks of every 2h x 2h block (h = n/2, ..., 1) with two
  /// shuffles per pair of rows.
  void transposeInRegisters(std::vector<llvm::Value*>& rows);
  /// A local variable of type `t`, allocated in the entry block (so it becomes a register).
  llvm::Value* local(llvm::Type* t);
  /// A call of an LLVM intrinsic overloaded on `t`.
  llvm::Value* intrinsic(llvm::Intrinsic::ID id, llvm::Type* t, std::vector<llvm::Value*> args);
  /// sum_i index[i] * stride[i] + base, as i64.
  llvm::Value* linear(const std::vector<llvm::Value*>& index, const std::vector<int64_t>& strides, int64_t base = 0);
  /// The index into `shape` of row-major position `flat` (i64): one i64 per dim, outermost first.
  std::vector<llvm::Value*> unflatten(llvm::Value* flat, const Shape& shape);

 private:
  llvm::Module& m_;
  const Graph& g_;
  const std::vector<int64_t>& offsets_;
  llvm::IRBuilder<> b_;
  llvm::Function* fn_ = nullptr;
  /// While a kernel is emitted: its buffers in order of first use, each as its arena offset and a
  /// placeholder for its pointer (replaced by a parameter in endKernel). The order is the parameters', so
  /// kernels that differ only in their offsets get the same body.
  std::vector<std::pair<int64_t, llvm::Instruction*>> buffers_;
  std::map<int64_t, size_t> bufferOf_;  ///< offset -> index in buffers_
  std::vector<int64_t> bufferOffsets_;
  /// The index in buffers_ of node `id`'s buffer (made on first use).
  size_t buffer(NodeId id);
  llvm::Value* arena_ = nullptr;  ///< the draft function's first parameter, which the placeholders use
  llvm::Value* begin_ = nullptr;
  llvm::Value* end_ = nullptr;
  llvm::Value* scratch_ = nullptr;
  int64_t scratchBytes_ = 0;
  /// The loads and stores of the current kernel made by load() and store(), with their buffer:
  /// endKernel gives each buffer an alias scope (buffers at different offsets never overlap within a
  /// kernel: the memory plan's validator checks it), so LLVM may vectorise loops that read one buffer and
  /// write another.
  std::vector<std::pair<llvm::Instruction*, size_t>> accesses_;
  /// Attaches the alias scopes of accesses_.
  void annotateAliasing();
  llvm::Value* status_ = nullptr;  // i32 alloca
};

/// Lowers node `id` alone into a kernel named `name` and returns its outer-loop extent: iota, movement,
/// contraction, window and indexing nodes (element-wise nodes and reductions go through lowerKernel; free
/// nodes have no kernel). compiler/Lowering.cpp picks the lowering of compiler/Lowering.h for each op.
int64_t lowerNode(KernelEmitter& k, NodeId id, const std::string& name);

/// A kernel of a schedule (passes/Fuse.h), declared here rather than included.
struct FusedKernel;
/// Lowers a kernel of the schedule (compiler/LowerFused.cpp): element-wise and reduction kernels as one
/// loop nest with their members in registers, contractions with their epilogue; single nodes as lowerNode.
int64_t lowerKernel(KernelEmitter& k, const FusedKernel& kernel, const std::string& name);

}  // namespace kiln
