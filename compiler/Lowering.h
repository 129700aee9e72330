// The lowering of each op class to a kernel (internal to compiler/). Each function emits the body of the
// kernel already begun for node `id` and returns its outer-loop extent.
#pragma once

#include <functional>

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
};

/// The scalar computation of element-wise node `n` over operand values `args` (value types).
llvm::Value* emitElementwiseOp(KernelEmitter& k, const Node& n, const std::vector<llvm::Value*>& args);
/// iota: each element's index along the axis (compiler/LowerElementwise.cpp).
int64_t lowerIota(KernelEmitter& k, NodeId id);
/// broadcast, permute, slice, concat and pad as strided copies; a reshape is a view and has no kernel
/// (compiler/LowerMovement.cpp).
int64_t lowerMovement(KernelEmitter& k, NodeId id);
/// gather and scatter_add; an index outside the table fails the kernel with kKernelIndexOutOfRange.
int64_t lowerIndex(KernelEmitter& k, NodeId id);
/// matmul, each finished element handed to `epilogue` when there is one (compiler/LowerContraction.cpp).
int64_t lowerMatmul(KernelEmitter& k, NodeId id, const Epilogue* epilogue = nullptr);
/// conv2d, conv2d_grad_input and conv2d_grad_weight, which share one loop nest; `epilogue` as for matmul.
int64_t lowerConv(KernelEmitter& k, NodeId id, const Epilogue* epilogue = nullptr);
/// max_pool2d, avg_pool2d and their gradients.
int64_t lowerPool(KernelEmitter& k, NodeId id);

}  // namespace kiln
