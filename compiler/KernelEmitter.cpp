// Loops, element access and status for kernels.
#include "compiler/KernelEmitter.h"

#include <map>
#include <set>

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>

#include "ir/Error.h"

namespace kiln {

KernelEmitter::KernelEmitter(llvm::Module& m, const Graph& g, const std::vector<int64_t>& offsets)
    : m_(m), g_(g), offsets_(offsets), b_(m.getContext()) {}

void KernelEmitter::beginKernel(const std::string& name) {
  llvm::Type* i64 = b_.getInt64Ty();
  auto* ty = llvm::FunctionType::get(b_.getInt32Ty(), {b_.getPtrTy(), b_.getPtrTy(), i64, i64}, false);
  fn_ = llvm::Function::Create(ty, llvm::Function::ExternalLinkage, name, m_);
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  arena_ = fn_->getArg(0);
  scratch_ = fn_->getArg(1);
  begin_ = fn_->getArg(2);
  end_ = fn_->getArg(3);
  scratchBytes_ = 0;
  b_.SetInsertPoint(llvm::BasicBlock::Create(ctx(), "entry", fn_));
  status_ = b_.CreateAlloca(b_.getInt32Ty(), nullptr, "status");
  b_.CreateStore(b_.getInt32(kKernelOk), status_);
}

void KernelEmitter::endKernel() {
  b_.CreateRet(b_.CreateLoad(b_.getInt32Ty(), status_));
  annotateAliasing();
  // The draft took (arena, scratch, begin, end) and reached each buffer through a placeholder GEP off the
  // arena; the body takes one pointer per buffer instead, in order of first use, then (scratch, begin, end).
  bufferOffsets_.clear();
  std::vector<llvm::Type*> params;
  for (auto& [offset, placeholder] : buffers_) {
    bufferOffsets_.push_back(offset);
    params.push_back(b_.getPtrTy());
  }
  params.insert(params.end(), {b_.getPtrTy(), b_.getInt64Ty(), b_.getInt64Ty()});
  auto* ty = llvm::FunctionType::get(b_.getInt32Ty(), params, false);
  llvm::Function* body = llvm::Function::Create(ty, llvm::Function::ExternalLinkage, "", m_);
  body->copyAttributesFrom(fn_);
  body->splice(body->end(), fn_);
  size_t i = 0;
  for (auto& [offset, placeholder] : buffers_) {
    llvm::Argument* a = body->getArg(unsigned(i++));
    a->addAttr(llvm::Attribute::NoAlias);  // sound as the alias scopes are: buffers of a kernel never overlap
    a->addAttr(llvm::Attribute::getWithAlignment(ctx(), llvm::Align(offset == 0 ? 64 : std::min<int64_t>(64, offset & -offset))));
    placeholder->replaceAllUsesWith(a);
    placeholder->eraseFromParent();
  }
  for (unsigned j = 1; j < 4; ++j) fn_->getArg(j)->replaceAllUsesWith(body->getArg(unsigned(i) + j - 1));
  body->addParamAttr(unsigned(i), llvm::Attribute::NoAlias);
  body->takeName(fn_);
  fn_->eraseFromParent();
  buffers_.clear();
  bufferOf_.clear();
  fn_ = nullptr;
}

void KernelEmitter::annotateAliasing() {
  if (buffers_.size() >= 2) {
    llvm::MDBuilder md(ctx());
    llvm::MDNode* domain = md.createAnonymousAliasScopeDomain("kernel");  // no kernel name: bodies are compared
    std::vector<llvm::MDNode*> scopes, others;  // per buffer: its scope, and the scopes of every other buffer
    for (size_t i = 0; i < buffers_.size(); ++i) scopes.push_back(md.createAnonymousAliasScope(domain));
    for (size_t i = 0; i < buffers_.size(); ++i) {
      std::vector<llvm::Metadata*> list;
      for (size_t j = 0; j < buffers_.size(); ++j)
        if (j != i) list.push_back(scopes[j]);
      others.push_back(llvm::MDNode::get(ctx(), list));
    }
    for (auto& [inst, buffer] : accesses_) {
      inst->setMetadata(llvm::LLVMContext::MD_alias_scope, llvm::MDNode::get(ctx(), {scopes[buffer]}));
      inst->setMetadata(llvm::LLVMContext::MD_noalias, others[buffer]);
    }
  }
  accesses_.clear();
}

llvm::Value* KernelEmitter::c64(int64_t v) { return b_.getInt64(uint64_t(v)); }

llvm::Value* KernelEmitter::scratch(int64_t bytes) {
  llvm::Value* p = b_.CreateInBoundsGEP(b_.getInt8Ty(), scratch_, c64(scratchBytes_));
  scratchBytes_ += (bytes + 63) / 64 * 64;
  return p;
}

llvm::Type* KernelEmitter::storageType(DType t) {
  switch (t) {
    case DType::F32: return b_.getFloatTy();
    case DType::F64: return b_.getDoubleTy();
    case DType::I32: return b_.getInt32Ty();
    case DType::Bool: return b_.getInt8Ty();
  }
  return nullptr;
}

llvm::Type* KernelEmitter::valueType(DType t) { return t == DType::Bool ? b_.getInt1Ty() : storageType(t); }

llvm::Value* KernelEmitter::constant(DType t, double v) {
  switch (t) {
    case DType::F32:
    case DType::F64: return llvm::ConstantFP::get(valueType(t), v);
    case DType::I32: return b_.getInt32(uint32_t(int32_t(v)));
    case DType::Bool: return b_.getInt1(v != 0);
  }
  return nullptr;
}

size_t KernelEmitter::buffer(NodeId id) {
  int64_t offset = offsets_[size_t(id.v)];
  auto [it, fresh] = bufferOf_.emplace(offset, buffers_.size());
  if (fresh) {  // at the top of the entry block, so it dominates every use
    llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
    llvm::Value* p = entry.CreateInBoundsGEP(entry.getInt8Ty(), arena_, entry.getInt64(uint64_t(offset)));
    buffers_.push_back({offset, llvm::cast<llvm::Instruction>(p)});
  }
  return it->second;
}

llvm::Value* KernelEmitter::address(NodeId id, llvm::Value* index) {
  llvm::Instruction* base = buffers_[buffer(id)].second;
  return b_.CreateInBoundsGEP(storageType(g_[id].type.dtype), base, index);
}

void KernelEmitter::transposeInRegisters(std::vector<llvm::Value*>& r) {
  int n = int(r.size());
  for (int h = n / 2; h >= 1; h /= 2)
    for (int i = 0; i < n; ++i) {
      if (i & h) continue;
      std::vector<int> lo, hi;
      for (int l = 0; l < n; ++l) {
        lo.push_back((l & h) == 0 ? l : n + l - h);
        hi.push_back((l & h) == 0 ? l + h : n + l);
      }
      llvm::Value* a = r[size_t(i)];
      llvm::Value* c = r[size_t(i + h)];
      r[size_t(i)] = b_.CreateShuffleVector(a, c, lo);
      r[size_t(i + h)] = b_.CreateShuffleVector(a, c, hi);
    }
}

void KernelEmitter::prefetch(const std::vector<NodeId>& reads, const std::vector<NodeId>& writes, llvm::Value* index) {
  std::set<int64_t> asked;
  for (bool write : {true, false})
    for (NodeId id : write ? writes : reads)
      if (asked.insert(offsets_[size_t(id.v)]).second)
        intrinsic(llvm::Intrinsic::prefetch, b_.getPtrTy(), {address(id, index), b_.getInt32(write), b_.getInt32(3), b_.getInt32(1)});
}

llvm::Value* KernelEmitter::load(NodeId id, llvm::Value* index) {
  DType t = g_[id].type.dtype;
  llvm::LoadInst* v = b_.CreateLoad(storageType(t), address(id, index));
  accesses_.push_back({v, buffer(id)});
  return t == DType::Bool ? b_.CreateICmpNE(v, b_.getInt8(0)) : v;
}

void KernelEmitter::store(NodeId id, llvm::Value* index, llvm::Value* v) {
  DType t = g_[id].type.dtype;
  if (t == DType::Bool) v = b_.CreateZExt(v, b_.getInt8Ty());
  accesses_.push_back({b_.CreateStore(v, address(id, index)), buffer(id)});
}

llvm::Value* KernelEmitter::loadVector(NodeId id, llvm::Value* index, llvm::Value* mask) {
  DType t = g_[id].type.dtype;
  auto lanes = llvm::cast<llvm::FixedVectorType>(mask->getType())->getNumElements();
  llvm::Type* vt = llvm::FixedVectorType::get(storageType(t), lanes);
  llvm::Align align(uint64_t(dtypeSize(t)));
  llvm::CallInst* v = b_.CreateMaskedLoad(vt, address(id, index), align, mask, llvm::Constant::getNullValue(vt));
  accesses_.push_back({v, buffer(id)});
  return t == DType::Bool ? b_.CreateICmpNE(v, llvm::Constant::getNullValue(vt)) : v;
}

void KernelEmitter::storeVector(NodeId id, llvm::Value* index, llvm::Value* v, llvm::Value* mask) {
  DType t = g_[id].type.dtype;
  if (t == DType::Bool) v = b_.CreateZExt(v, llvm::VectorType::get(b_.getInt8Ty(), llvm::cast<llvm::VectorType>(v->getType())));
  accesses_.push_back({b_.CreateMaskedStore(v, address(id, index), llvm::Align(uint64_t(dtypeSize(t))), mask), buffer(id)});
}

void KernelEmitter::ifElse(llvm::Value* cond, const std::function<void()>& then, const std::function<void()>& otherwise) {
  llvm::BasicBlock* yes = llvm::BasicBlock::Create(ctx(), "then", fn_);
  llvm::BasicBlock* no = llvm::BasicBlock::Create(ctx(), "else", fn_);
  llvm::BasicBlock* done = llvm::BasicBlock::Create(ctx(), "done", fn_);
  b_.CreateCondBr(cond, yes, no);
  b_.SetInsertPoint(yes);
  then();
  b_.CreateBr(done);
  b_.SetInsertPoint(no);
  otherwise();
  b_.CreateBr(done);
  b_.SetInsertPoint(done);
}

void KernelEmitter::loop(llvm::Value* lo, llvm::Value* hi, const std::function<void(llvm::Value*)>& body, bool keepRolled) {
  llvm::BasicBlock* pre = b_.GetInsertBlock();
  llvm::BasicBlock* header = llvm::BasicBlock::Create(ctx(), "loop", fn_);
  llvm::BasicBlock* bodyBlock = llvm::BasicBlock::Create(ctx(), "body", fn_);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(ctx(), "exit", fn_);
  b_.CreateBr(header);
  b_.SetInsertPoint(header);
  llvm::PHINode* i = b_.CreatePHI(b_.getInt64Ty(), 2, "i");
  i->addIncoming(lo, pre);
  b_.CreateCondBr(b_.CreateICmpSLT(i, hi), bodyBlock, exit);
  b_.SetInsertPoint(bodyBlock);
  body(i);
  i->addIncoming(b_.CreateAdd(i, c64(1), "", true, true), b_.GetInsertBlock());
  llvm::BranchInst* latch = b_.CreateBr(header);
  if (keepRolled) {  // a distinct loop ID whose property disables unrolling
    llvm::MDNode* disable = llvm::MDNode::get(ctx(), {llvm::MDString::get(ctx(), "llvm.loop.unroll.disable")});
    llvm::MDNode* id = llvm::MDNode::getDistinct(ctx(), {nullptr, disable});
    id->replaceOperandWith(0, id);
    latch->setMetadata(llvm::LLVMContext::MD_loop, id);
  }
  b_.SetInsertPoint(exit);
}

void KernelEmitter::loopNest(const Shape& shape, const std::function<void(const std::vector<llvm::Value*>&)>& body,
                             bool keepRolled) {
  Bounds bounds;
  for (int64_t d : shape) bounds.push_back({c64(0), c64(d)});
  boundedNest(bounds, body, keepRolled);
}

void KernelEmitter::boundedNest(const Bounds& bounds, const std::function<void(const std::vector<llvm::Value*>&)>& body,
                                bool keepRolled) {
  std::vector<llvm::Value*> index;
  std::function<void(size_t)> level = [&](size_t d) {
    if (d == bounds.size()) return body(index);
    loop(bounds[d].first, bounds[d].second, [&](llvm::Value* i) {
      index.push_back(i);
      level(d + 1);
      index.pop_back();
    }, keepRolled);
  };
  level(0);
}

llvm::Value* KernelEmitter::groupBegin(llvm::Value* g, int64_t rows, int64_t groups) {
  return b_.CreateSDiv(b_.CreateMul(g, c64(rows)), c64(groups));
}

void KernelEmitter::failIf(llvm::Value* cond, KernelStatus status) {
  llvm::Value* cur = b_.CreateLoad(b_.getInt32Ty(), status_);
  llvm::Value* first = b_.CreateAnd(cond, b_.CreateICmpEQ(cur, b_.getInt32(kKernelOk)));
  b_.CreateStore(b_.CreateSelect(first, b_.getInt32(status), cur), status_);
}

llvm::Value* KernelEmitter::local(llvm::Type* t) {
  llvm::IRBuilder<> entry(&fn_->getEntryBlock(), fn_->getEntryBlock().begin());
  return entry.CreateAlloca(t);
}

llvm::Value* KernelEmitter::intrinsic(llvm::Intrinsic::ID id, llvm::Type* t, std::vector<llvm::Value*> args) {
  llvm::Function* f = llvm::Intrinsic::getDeclaration(&m_, id, {t});
  return b_.CreateCall(f, args);
}

std::vector<llvm::Value*> KernelEmitter::unflatten(llvm::Value* flat, const Shape& shape) {
  std::vector<llvm::Value*> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = d == 0 ? flat : b_.CreateURem(flat, c64(shape[d]));
    if (d > 0) flat = b_.CreateUDiv(flat, c64(shape[d]));
  }
  return index;
}

llvm::Value* KernelEmitter::linear(const std::vector<llvm::Value*>& index, const std::vector<int64_t>& strides, int64_t base) {
  KILN_ASSERT(index.size() == strides.size(), "linear: one stride per index");
  llvm::Value* lin = c64(base);
  for (size_t i = 0; i < index.size(); ++i)
    if (strides[i] != 0) lin = b_.CreateAdd(lin, b_.CreateMul(index[i], c64(strides[i]), "", true, true), "", true, true);
  return lin;
}

}  // namespace kiln
