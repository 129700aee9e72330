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
  NodeId target;
  std::function<void(llvm::Value* value, llvm::Value* flat, const std::vector<llvm::Value*>& idx)> apply;
};

/// The scalar computation of element-wise node `n` over operand values `args` (value types).
llvm::Value* emitElementwiseOp(KernelEmitter& k, const Node& n, const std::vector<llvm::Value*>& args);
int64_t lowerIota(KernelEmitter& k, NodeId id);
int64_t lowerMovement(KernelEmitter& k, NodeId id);
int64_t lowerIndex(KernelEmitter& k, NodeId id);
int64_t lowerMatmul(KernelEmitter& k, NodeId id, const Epilogue* epilogue = nullptr);
int64_t lowerConv(KernelEmitter& k, NodeId id, const Epilogue* epilogue = nullptr);
int64_t lowerPool(KernelEmitter& k, NodeId id);

}  // namespace kiln
