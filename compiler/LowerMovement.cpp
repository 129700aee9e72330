// Movement (strided copies) and indexing kernels.
#include <limits>

#include <llvm/IR/Intrinsics.h>

#include "compiler/Lowering.h"
#include "ir/Error.h"

namespace kiln {

namespace {

using Index = std::vector<llvm::Value*>;

/// Loops over `shape`; the outermost loop runs over the kernel's range when `ranged` (extent shape[0]).
void nest(KernelEmitter& k, const Shape& shape, bool ranged, const std::function<void(const Index&)>& body) {
  if (shape.empty()) return body({});
  llvm::Value* lo = ranged ? k.rangeBegin() : k.c64(0);
  llvm::Value* hi = ranged ? k.rangeEnd() : k.c64(shape[0]);
  k.loop(lo, hi, [&](llvm::Value* i0) {
    k.loopNest(Shape(shape.begin() + 1, shape.end()), [&](const Index& rest) {
      Index idx{i0};
      idx.insert(idx.end(), rest.begin(), rest.end());
      body(idx);
    });
  });
}

/// dst[dstBase + idx . dstStrides] = src[srcBase + idx . srcStrides] over `shape`.
void stridedCopy(KernelEmitter& k, NodeId dst, int64_t dstBase, const std::vector<int64_t>& dstStrides, NodeId src,
                 int64_t srcBase, const std::vector<int64_t>& srcStrides, const Shape& shape, bool ranged) {
  nest(k, shape, ranged, [&](const Index& idx) {
    k.store(dst, k.linear(idx, dstStrides, dstBase), k.load(src, k.linear(idx, srcStrides, srcBase)));
  });
}

int64_t outerExtent(const Shape& s) { return s.empty() ? 1 : s[0]; }

/// Copies one outer row of `src` (its elements from `from` on, row-major) into node `dst`'s buffer from
/// `to` on, laid out in `dst`'s inner strides: a row of pad's or concat's input into its place in the output.
void copyRow(KernelEmitter& k, NodeId dst, llvm::Value* to, NodeId src, llvm::Value* from) {
  const Shape& in = k.graph()[src].type.shape;
  std::vector<int64_t> outStrides = stridesOf(k.graph()[dst].type.shape), inStrides = stridesOf(in);
  std::vector<int64_t> innerOut(outStrides.begin() + 1, outStrides.end()), innerIn(inStrides.begin() + 1, inStrides.end());
  llvm::IRBuilder<>& b = k.b();
  k.loopNest(Shape(in.begin() + 1, in.end()), [&](const Index& idx) {
    k.store(dst, b.CreateAdd(to, k.linear(idx, innerOut)), k.load(src, b.CreateAdd(from, k.linear(idx, innerIn))));
  });
}

/// Pad over the kernel's range of the output's outer rows: each row filled with the pad value, then the
/// input's row that lands in it (if any) copied in. Split over rows like the kernels around it: run as one
/// range on 2 threads, GPT's pads (the gradients of its slices) took twice their 1-thread time.
void padRows(KernelEmitter& k, NodeId id, const PadAttrs& a) {
  const Node& n = k.graph()[id];
  const Shape& out = n.type.shape;
  const Shape& in = k.graph()[n.inputs[0]].type.shape;
  std::vector<int64_t> outStrides = stridesOf(out), inStrides = stridesOf(in);
  int64_t base = 0;
  for (size_t d = 1; d < a.lo.size(); ++d) base += a.lo[d] * outStrides[d];
  llvm::IRBuilder<>& b = k.b();
  llvm::Value* value = k.constant(n.type.dtype, a.value);
  k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* row) {
    llvm::Value* rowStart = b.CreateMul(row, k.c64(outStrides[0]));
    k.loop(k.c64(0), k.c64(outStrides[0]), [&](llvm::Value* j) { k.store(id, b.CreateAdd(rowStart, j), value); });
    llvm::Value* src = b.CreateSub(row, k.c64(a.lo[0]));
    k.when(b.CreateAnd(b.CreateICmpSGE(src, k.c64(0)), b.CreateICmpSLT(src, k.c64(in[0]))), [&] {
      copyRow(k, id, b.CreateAdd(rowStart, k.c64(base)), n.inputs[0], b.CreateMul(src, k.c64(inStrides[0])));
    });
  });
}

/// Concat over the kernel's range of the output's outer rows: each input's part of the row copied in
/// (along axis 0, the one input the row comes from). Split over rows like pad: as one range, the GPT
/// step's concat of dq, dk and dv (6 MB) ran on one thread.
void concatRows(KernelEmitter& k, NodeId id) {
  const Node& n = k.graph()[id];
  std::vector<int64_t> outStrides = stridesOf(n.type.shape);
  size_t axis = size_t(std::get<AxisAttrs>(n.attrs).axis);
  llvm::IRBuilder<>& b = k.b();
  k.loop(k.rangeBegin(), k.rangeEnd(), [&](llvm::Value* row) {
    int64_t at = 0;
    for (NodeId in : n.inputs) {
      const Shape& s = k.graph()[in].type.shape;
      llvm::Value* src = axis == 0 ? b.CreateSub(row, k.c64(at)) : row;
      llvm::Value* to = b.CreateAdd(b.CreateMul(row, k.c64(outStrides[0])), k.c64(axis == 0 ? 0 : at * outStrides[axis]));
      auto copy = [&] { copyRow(k, id, to, in, b.CreateMul(src, k.c64(stridesOf(s)[0]))); };
      if (axis == 0) k.when(b.CreateAnd(b.CreateICmpSGE(src, k.c64(0)), b.CreateICmpSLT(src, k.c64(s[0]))), copy);
      else copy();
      at += s[axis];
    }
  });
}

}  // namespace

int64_t lowerMovement(KernelEmitter& k, NodeId id) {
  const Node& n = k.graph()[id];
  const Shape& out = n.type.shape;
  std::vector<int64_t> outStrides = stridesOf(out);
  const Shape& inShape = k.graph()[n.inputs[0]].type.shape;
  std::vector<int64_t> inStrides = stridesOf(inShape);
  switch (movementOp(n.op)) {
    case MovementOp::Broadcast: {
      std::vector<int64_t> src(out.size(), 0);
      size_t lead = out.size() - inShape.size();
      for (size_t d = lead; d < out.size(); ++d) src[d] = inShape[d - lead] == 1 ? 0 : inStrides[d - lead];
      stridedCopy(k, id, 0, outStrides, n.inputs[0], 0, src, out, true);
      return outerExtent(out);
    }
    case MovementOp::Permute: {
      auto& perm = std::get<PermuteAttrs>(n.attrs).perm;
      std::vector<int64_t> src;
      for (int64_t p : perm) src.push_back(inStrides[size_t(p)]);
      stridedCopy(k, id, 0, outStrides, n.inputs[0], 0, src, out, true);
      return outerExtent(out);
    }
    case MovementOp::Slice: {
      auto& a = std::get<SliceAttrs>(n.attrs);
      int64_t base = 0;
      for (size_t d = 0; d < a.start.size(); ++d) base += a.start[d] * inStrides[d];
      stridedCopy(k, id, 0, outStrides, n.inputs[0], base, inStrides, out, true);
      return outerExtent(out);
    }
    case MovementOp::Concat:
      KILN_ASSERT(!out.empty(), "concat of scalars (the verifier refuses it)");
      concatRows(k, id);
      return out[0];
    case MovementOp::Pad: {
      auto& a = std::get<PadAttrs>(n.attrs);
      if (out.empty()) {  // a scalar: a copy
        stridedCopy(k, id, 0, {}, n.inputs[0], 0, {}, inShape, false);
        return 1;
      }
      padRows(k, id, a);
      return out[0];
    }
    case MovementOp::Reshape: break;
  }
  KILN_ASSERT(false, "a reshape is a view, not a kernel");
}

int64_t lowerIndex(KernelEmitter& k, NodeId id) {
  const Node& n = k.graph()[id];
  llvm::IRBuilder<>& b = k.b();
  bool isGather = n.op == Op::Gather;
  NodeId idx = n.inputs[isGather ? 1 : 0], src = n.inputs[isGather ? 0 : 1];
  const Shape& table = isGather ? k.graph()[src].type.shape : n.type.shape;
  int64_t rows = table[0], row = numel(Shape(table.begin() + 1, table.end()));
  int64_t count = k.graph()[idx].type.numel();
  // gather's range is its indices; scatter_add's the columns of its rows, so that each chunk adds every
  // index's row into its own columns in index order: no two chunks add into one element.
  llvm::Value *colLo = isGather ? k.c64(0) : k.rangeBegin(), *colHi = isGather ? k.c64(row) : k.rangeEnd();
  if (!isGather)
    k.loop(rows, [&](llvm::Value* r) {
      k.loop(colLo, colHi, [&](llvm::Value* j) { k.store(id, b.CreateAdd(b.CreateMul(r, k.c64(row)), j), k.constant(n.type.dtype, 0)); });
    });
  llvm::Value* lo = isGather ? k.rangeBegin() : k.c64(0);
  llvm::Value* hi = isGather ? k.rangeEnd() : k.c64(count);
  k.loop(lo, hi, [&](llvm::Value* p) {
    llvm::Value* v = b.CreateSExt(k.load(idx, p), b.getInt64Ty());
    llvm::Value* bad = b.CreateOr(b.CreateICmpSLT(v, k.c64(0)), b.CreateICmpSGE(v, k.c64(rows)));
    k.failIf(bad, kKernelIndexOutOfRange);
    llvm::Value* r = b.CreateMul(b.CreateSelect(bad, k.c64(0), v), k.c64(row));
    llvm::Value* q = b.CreateMul(p, k.c64(row));
    k.loop(colLo, colHi, [&](llvm::Value* j) {
      if (isGather) {
        k.store(id, b.CreateAdd(q, j), k.load(src, b.CreateAdd(r, j)));
      } else {
        llvm::Value* at = b.CreateAdd(r, j);
        llvm::Value* add = isFloat(n.type.dtype) ? b.CreateFAdd(k.load(id, at), k.load(src, b.CreateAdd(q, j)))
                                                 : b.CreateAdd(k.load(id, at), k.load(src, b.CreateAdd(q, j)));
        k.store(id, at, add);
      }
    });
  });
  return isGather ? count : row;
}

}  // namespace kiln
