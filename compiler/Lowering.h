// The lowering of each op class to a kernel (internal to compiler/). Each function emits the body of the
// kernel already begun for node `id` and returns its outer-loop extent.
#pragma once

#include <functional>

#include "compiler/Gemm.h"
#include "compiler/KernelEmitter.h"

namespace kiln {

/// What a contraction does with each finished element. Without one it stores the element to its node;
/// a fused kernel evaluates its epilogue there and stores the kernel's outputs. Partial sums accumulate in
/// `target`'s buffer (the kernel's root, which has the contraction's shape). `idx` indexes the
/// contraction's result.
struct Epilogue {
  NodeId target;  ///< the node whose buffer holds the partial sums: the kernel's root
  /// Called with each finished element `value`, its row-major index `flat` (i64) and its index per dim.
  std::function<void(llvm::Value* value, llvm::Value* flat, const std::vector<llvm::Value*>& idx)> apply;
  /// Set when the epilogue can run on a vector of finished elements in registers (a GEMM's register tile,
  /// before anything is stored): `value` holds elements flat.. of one row of the GEMM's result, those
  /// lanes `mask` holds; `idx` is the first one's index.
  std::function<void(llvm::Value* value, llvm::Value* flat, const std::vector<llvm::Value*>& idx, llvm::Value* mask)>
      applyVector = {};
  /// When set, asks for the cache lines the epilogue reads and writes at row-major index `flat` (the
  /// operands it loads there and the members it stores), so that a GEMM can fetch them while its last
  /// block of K computes the tile.
  std::function<void(llvm::Value* flat)> prefetch = {};
};

/// The scalar computation of element-wise node `n` over operand values `args` (value types), or of each
/// lane when they are vectors (where emitsOnVectors holds).
llvm::Value* emitElementwiseOp(KernelEmitter& k, const Node& n, const std::vector<llvm::Value*>& args);
/// Whether emitElementwiseOp computes element-wise node `n` on vectors: not the ops that can fail a
/// kernel (integer division, a float cast to i32), nor f64 tanh and erf (libm's scalars).
bool emitsOnVectors(const Graph& g, const Node& n);
/// iota: each element's index along the axis (compiler/LowerElementwise.cpp).
int64_t lowerIota(KernelEmitter& k, NodeId id);
/// broadcast, permute, slice, concat and pad as strided copies; a reshape is a view and has no kernel
/// (compiler/LowerMovement.cpp).
int64_t lowerMovement(KernelEmitter& k, NodeId id);
/// gather and scatter_add; an index outside the table fails the kernel with kKernelIndexOutOfRange.
int64_t lowerIndex(KernelEmitter& k, NodeId id);
/// matmul, each finished element handed to `epilogue` when there is one (compiler/LowerContraction.cpp).
/// A GEMM for the engine (compiler/Gemm.cpp): for each of `batch` batches, C[M,N] = op(A)[M,K] op(B)[K,N],
/// the operands read through element functions (a conv reads its input through the window), and the
/// result stored at element bi * M * N + m * N + col of node `c`.
struct GemmSpec : GemmShape {
  /// How an operand lies in memory, for the packing's fast paths.
  enum Layout {
    Other,    ///< only through its element function
    AlongK,   ///< a plain matrix contiguous along K (A row-major, or B transposed)
    AlongMN,  ///< a plain matrix contiguous along M (A transposed) or N (B row-major)
  };
  /// op(A)(bi, m, kk) and op(B)(bi, kk, col) for in-range indices: the value (zero where a window leaves
  /// its input).
  std::function<llvm::Value*(KernelEmitter&, llvm::Value*, llvm::Value*, llvm::Value*)> a, b;
  /// For a plain operand (layout AlongK or AlongMN): the address of its element `index`, read directly by
  /// the packing's fast paths (a node's buffer, or scratch the kernel filled first).
  std::function<llvm::Value*(KernelEmitter&, llvm::Value* index)> aAddress, bAddress;
  Layout aLayout = Other, bLayout = Other;
  int64_t aBatchStride = 0, bBatchStride = 0;  ///< elements between batches of a plain operand
  NodeId c;                            ///< where the result is stored
  /// When set, runs at the start of each batch's block of op(B)'s columns [colBegin, colEnd), before its
  /// operands are packed (a conv fills its im2col, or the rows of it the block reads).
  std::function<void(KernelEmitter&, llvm::Value* bi, llvm::Value* colBegin, llvm::Value* colEnd)> startBatch;
  /// When set, each batch's M x N result goes to scratch instead (row-major), and this runs after the
  /// batch with its address (a conv's gradient scatters it back through the window: col2im).
  std::function<void(KernelEmitter&, llvm::Value* bi, llvm::Value* result)> finishBatch;
  /// The epilogue's index of element (bi, m, col) (the contraction's result dims).
  std::function<std::vector<llvm::Value*>(KernelEmitter&, llvm::Value*, llvm::Value*, llvm::Value*)> indexOf;
};

/// A spec with the batch, dims and dtype of the GEMM contraction `id` runs as (gemmShapeOf in
/// compiler/Gemm.h, the one place they are worked out); the caller fills in how operands are read.
GemmSpec gemmSpecFor(const Graph& g, NodeId id);
/// Emits the GEMM of `spec` into the kernel begun, applying `epilogue` (if any) to each finished element;
/// returns the outer-loop extent (the batch).
int64_t lowerGemm(KernelEmitter& k, const GemmSpec& spec, const Epilogue* epilogue = nullptr);
/// A GEMM that usesDotPath, as dot products along K (compiler/GemmDot.cpp); lowerGemm calls it.
int64_t lowerDotGemm(KernelEmitter& k, const GemmSpec& spec, const Epilogue* epilogue);
/// What the kernels of the engine's own paths (GemmDot.cpp, GemmNarrow.cpp) start from: the emitter, the
/// spec and its epilogue, and vectors of the host's width in the spec's dtype.
struct GemmPathLowering {
  KernelEmitter& k;                   ///< emits the kernel's body
  const GemmSpec& s;                  ///< the GEMM
  const Epilogue* epi;                ///< applied to each finished element, or null
  llvm::IRBuilder<>& b = k.b();       ///< the emitter's builder
  int64_t bytes = dtypeSize(s.dtype);  ///< of an element
  int64_t vl = hostLanes(s.dtype);    ///< elements per vector
  llvm::Type* t = k.valueType(s.dtype);  ///< an element's value type
  llvm::VectorType* vt = llvm::FixedVectorType::get(t, unsigned(vl));  ///< a vector of them
};
/// A GEMM that usesNarrowPath, with vectors along M (compiler/GemmNarrow.cpp); lowerGemm calls it.
int64_t lowerNarrowGemm(KernelEmitter& k, const GemmSpec& spec, const Epilogue* epilogue);
/// A matmul on the GEMM engine (compiler/Gemm.cpp).
int64_t lowerMatmul(KernelEmitter& k, NodeId id, const Epilogue* epilogue = nullptr);
/// conv2d, conv2d_grad_input and conv2d_grad_weight, which share one loop nest; `epilogue` as for matmul.
int64_t lowerConv(KernelEmitter& k, NodeId id, const Epilogue* epilogue = nullptr);
/// max_pool2d, avg_pool2d and their gradients.
int64_t lowerPool(KernelEmitter& k, NodeId id);

}  // namespace kiln
