// Which lowering each node of a single-node kernel takes: a switch over the op classes and their enums.
#include "compiler/Lowering.h"

#include "ir/Error.h"

namespace kiln {

namespace {

/// The lowering of a node of class Window: conv2d's gradients share conv2d's loop nest.
int64_t lowerWindow(KernelEmitter& k, NodeId id) {
  switch (windowOp(k.graph()[id].op)) {
    case WindowOp::Conv2dGradInput:
    case WindowOp::Conv2dGradWeight: return lowerConv(k, id);
    case WindowOp::MaxPool2d:
    case WindowOp::AvgPool2d:
    case WindowOp::MaxPool2dGrad:
    case WindowOp::AvgPool2dGrad: return lowerPool(k, id);
  }
  KILN_ASSERT(false, "unknown window op");
}

int64_t lowerContraction(KernelEmitter& k, NodeId id) {
  switch (contractionOp(k.graph()[id].op)) {
    case ContractionOp::Matmul: return lowerMatmul(k, id);
    case ContractionOp::Conv2d: return lowerConv(k, id);
  }
  KILN_ASSERT(false, "unknown contraction");
}

}  // namespace

int64_t lowerNode(KernelEmitter& k, NodeId id, const std::string& name) {
  const Node& n = k.graph()[id];
  KILN_ASSERT(!isFree(n.op), "no kernel for leaves, constants and reshapes");
  k.beginKernel(name);
  int64_t extent = 1;
  switch (opInfo(n.op).cls) {
    case OpClass::Leaf: extent = lowerIota(k, id); break;  // the only leaf that needs a kernel
    case OpClass::Unary: case OpClass::Binary: case OpClass::Compare: case OpClass::Select: case OpClass::Cast:
    case OpClass::Reduction:
      KILN_ASSERT(false, "element-wise ops and reductions are lowered as kernels (compiler/LowerFused.cpp)");
    case OpClass::Movement: extent = lowerMovement(k, id); break;
    case OpClass::Contraction: extent = lowerContraction(k, id); break;
    case OpClass::Window: extent = lowerWindow(k, id); break;
    case OpClass::Index: extent = lowerIndex(k, id); break;
  }
  k.endKernel();
  return extent;
}

}  // namespace kiln
