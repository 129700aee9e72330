// Which lowering each op takes: one case per op of the table.
#include "compiler/Lowering.h"

#include "ir/Error.h"

namespace kiln {

int64_t lowerNode(KernelEmitter& k, NodeId id, const std::string& name) {
  k.beginKernel(name);
  int64_t extent = 1;
  switch (k.graph()[id].op) {
    case Op::Input: case Op::Parameter: case Op::State: case Op::Constant: case Op::Reshape:
      KILN_ASSERT(false, "no kernel for leaves, constants and reshapes");
    case Op::Iota: extent = lowerIota(k, id); break;
    case Op::Neg: case Op::Abs: case Op::Exp: case Op::Log: case Op::Sqrt: case Op::Rsqrt: case Op::Tanh:
    case Op::Sigmoid: case Op::Erf: case Op::Sin: case Op::Cos: case Op::Add: case Op::Sub: case Op::Mul:
    case Op::Div: case Op::Max: case Op::Min: case Op::Pow: case Op::Eq: case Op::Ne: case Op::Lt: case Op::Le:
    case Op::Gt: case Op::Ge: case Op::Select: case Op::Cast: case Op::ReduceSum: case Op::ReduceMax:
      KILN_ASSERT(false, "element-wise ops and reductions are lowered as kernels (compiler/LowerFused.cpp)");
    case Op::Broadcast: case Op::Permute: case Op::Slice: case Op::Concat: case Op::Pad:
      extent = lowerMovement(k, id);
      break;
    case Op::Matmul: extent = lowerMatmul(k, id); break;
    case Op::Conv2d: case Op::Conv2dGradInput: case Op::Conv2dGradWeight: extent = lowerConv(k, id); break;
    case Op::MaxPool2d: case Op::AvgPool2d: case Op::MaxPool2dGrad: case Op::AvgPool2dGrad: extent = lowerPool(k, id); break;
    case Op::Gather: case Op::ScatterAdd: extent = lowerIndex(k, id); break;
  }
  k.endKernel();
  return extent;
}

}  // namespace kiln
