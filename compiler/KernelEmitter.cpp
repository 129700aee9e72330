// Loops, element access and status for kernels.
#include "compiler/KernelEmitter.h"

#include <map>

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
  fn_->addParamAttr(0, llvm::Attribute::NoAlias);
  fn_->addParamAttr(1, llvm::Attribute::NoAlias);
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
  fn_ = nullptr;
}

void KernelEmitter::annotateAliasing() {
  std::map<int64_t, llvm::MDNode*> scopes;
  for (auto& [inst, offset] : accesses_) scopes[offset] = nullptr;
  if (scopes.size() >= 2) {
    llvm::MDBuilder md(ctx());
    llvm::MDNode* domain = md.createAnonymousAliasScopeDomain(fn_->getName());
    for (auto& [offset, scope] : scopes) scope = md.createAnonymousAliasScope(domain);
    std::map<int64_t, llvm::MDNode*> others;  // per buffer: the scopes of every other buffer
    for (auto& [offset, scope] : scopes) {
      std::vector<llvm::Metadata*> list;
      for (auto& [o, s] : scopes)
        if (o != offset) list.push_back(s);
      others[offset] = llvm::MDNode::get(ctx(), list);
    }
    for (auto& [inst, offset] : accesses_) {
      inst->setMetadata(llvm::LLVMContext::MD_alias_scope, llvm::MDNode::get(ctx(), {scopes[offset]}));
      inst->setMetadata(llvm::LLVMContext::MD_noalias, others[offset]);
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

llvm::Value* KernelEmitter::address(NodeId id, llvm::Value* index) {
  llvm::Value* base = b_.CreateInBoundsGEP(b_.getInt8Ty(), arena_, c64(offsets_[size_t(id.v)]));
  return b_.CreateInBoundsGEP(storageType(g_[id].type.dtype), base, index);
}

llvm::Value* KernelEmitter::load(NodeId id, llvm::Value* index) {
  DType t = g_[id].type.dtype;
  llvm::LoadInst* v = b_.CreateLoad(storageType(t), address(id, index));
  accesses_.push_back({v, offsets_[size_t(id.v)]});
  return t == DType::Bool ? b_.CreateICmpNE(v, b_.getInt8(0)) : v;
}

void KernelEmitter::store(NodeId id, llvm::Value* index, llvm::Value* v) {
  DType t = g_[id].type.dtype;
  if (t == DType::Bool) v = b_.CreateZExt(v, b_.getInt8Ty());
  accesses_.push_back({b_.CreateStore(v, address(id, index)), offsets_[size_t(id.v)]});
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
  std::vector<llvm::Value*> index;
  std::function<void(size_t)> level = [&](size_t d) {
    if (d == shape.size()) return body(index);
    loop(c64(0), c64(shape[d]), [&](llvm::Value* i) {
      index.push_back(i);
      level(d + 1);
      index.pop_back();
    }, keepRolled);
  };
  level(0);
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

llvm::Value* KernelEmitter::linear(const std::vector<llvm::Value*>& index, const std::vector<int64_t>& strides, int64_t base) {
  KILN_ASSERT(index.size() == strides.size(), "linear: one stride per index");
  llvm::Value* lin = c64(base);
  for (size_t i = 0; i < index.size(); ++i)
    if (strides[i] != 0) lin = b_.CreateAdd(lin, b_.CreateMul(index[i], c64(strides[i]), "", true, true), "", true, true);
  return lin;
}

}  // namespace kiln
