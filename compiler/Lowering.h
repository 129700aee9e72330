// The lowering of each op class to a kernel (internal to compiler/). Each function emits the body of the
// kernel already begun for node `id` and returns its outer-loop extent.
#pragma once

#include "compiler/KernelEmitter.h"

namespace kiln {

int64_t lowerElementwise(KernelEmitter& k, NodeId id);
int64_t lowerIota(KernelEmitter& k, NodeId id);
int64_t lowerMovement(KernelEmitter& k, NodeId id);
int64_t lowerReduction(KernelEmitter& k, NodeId id);
int64_t lowerIndex(KernelEmitter& k, NodeId id);
int64_t lowerMatmul(KernelEmitter& k, NodeId id);
int64_t lowerConv(KernelEmitter& k, NodeId id);
int64_t lowerPool(KernelEmitter& k, NodeId id);

/// Whether a node needs no kernel: leaves and constants live in the arena already, and a reshape is a view
/// of its operand's buffer.
bool needsKernel(Op op);

}  // namespace kiln
