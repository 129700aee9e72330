// Composite DSL functions written over primitives: activations, normalisations, losses, attention.
// They add no ops to the table; autodiff and fusion see the primitives.
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "ir/Builder.h"

namespace kiln {

Value relu(Value x, Site site) { return maximum(Operand(x, site), Operand(0.0, site)); }

Value gelu(Value x, Site site) {
  Value inner = erf(binary(Op::Mul, Operand(x, site), Operand(M_SQRT1_2, site)), site);
  Value onePlus = binary(Op::Add, Operand(inner, site), Operand(1.0, site));
  return binary(Op::Mul, Operand(binary(Op::Mul, Operand(x, site), Operand(0.5, site)), site), Operand(onePlus, site));
}

/// x - max(x) along `axis`, kept broadcastable: the shared first step of softmax and log-softmax.
static Value shiftedByMax(Value x, int64_t axis, Site site) {
  Value m = reduceMax(x, {axis}, true, site);
  return binary(Op::Sub, Operand(x, site), Operand(m, site));
}

Value softmax(Value x, int64_t axis, Site site) {
  Value e = exp(shiftedByMax(x, axis, site), site);
  return binary(Op::Div, Operand(e, site), Operand(sum(e, {axis}, true, site), site));
}

Value logSoftmax(Value x, int64_t axis, Site site) {
  Value z = shiftedByMax(x, axis, site);
  Value lse = log(sum(exp(z, site), {axis}, true, site), site);
  return binary(Op::Sub, Operand(z, site), Operand(lse, site));
}

Value layerNorm(Value x, Value gamma, Value beta, double eps, Site site) {
  Value mu = mean(x, {-1}, true, site);
  Value d = binary(Op::Sub, Operand(x, site), Operand(mu, site));
  Value var = mean(binary(Op::Mul, Operand(d, site), Operand(d, site)), {-1}, true, site);
  Value inv = rsqrt(binary(Op::Add, Operand(var, site), Operand(eps, site)), site);
  Value y = binary(Op::Mul, Operand(d, site), Operand(inv, site));
  return binary(Op::Add, Operand(binary(Op::Mul, Operand(y, site), Operand(gamma, site)), site), Operand(beta, site));
}

Value linear(Value x, Value w, Site site) {
  if (w.rank() != 2 || x.rank() < 1 || x.dim(-1) != w.dim(1))
    throw Error(Location::of(site), fmt::format("linear: x {} needs weight [out, {}], got {}", x.type().str(),
                                                x.rank() ? x.dim(-1) : 0, w.type().str()));
  Shape outShape = x.shape();
  outShape.back() = w.dim(0);
  Value flat = reshape(x, {-1, x.dim(-1)}, site);
  return reshape(matmul(flat, w, false, true, site), outShape, site);
}

Value linear(Value x, Value w, Value b, Site site) {
  return binary(Op::Add, Operand(linear(x, w, site), site), Operand(b, site));
}

Value crossEntropy(Value logits, Value labels, Site site) {
  if (logits.rank() != 2 || labels.rank() != 1 || labels.dtype() != DType::I32 || labels.dim(0) != logits.dim(0))
    throw Error(Location::of(site), fmt::format("cross_entropy: expects logits [N, C] and labels i32[N], got {} and {}",
                                                logits.type().str(), labels.type().str()));
  Builder& b = logits.builder();
  Type idx{DType::I32, logits.shape()};
  Value classes = b.iota(idx, 1, site);
  Value onehot = cast(eq(Operand(reshape(labels, {-1, 1}, site), site), Operand(classes, site)), logits.dtype(), site);
  Value picked = sum(binary(Op::Mul, Operand(onehot, site), Operand(logSoftmax(logits, 1, site), site)), {0, 1}, false, site);
  return binary(Op::Div, Operand(neg(picked, site), site), Operand(double(logits.dim(0)), site));
}

Value mse(Value a, Value b, Site site) {
  Value d = binary(Op::Sub, Operand(a, site), Operand(b, site));
  std::vector<int64_t> all;
  for (int64_t i = 0; i < d.rank(); ++i) all.push_back(i);
  return mean(binary(Op::Mul, Operand(d, site), Operand(d, site)), all, false, site);
}

Value causalSelfAttention(Value x, Value wqkv, Value bqkv, Value wproj, Value bproj, int64_t heads, Site site) {
  if (x.rank() != 3 || heads < 1 || x.dim(2) % heads != 0)
    throw Error(Location::of(site), fmt::format("attention: expects x [B, T, C] with C divisible by {} heads, got {}",
                                                heads, x.type().str()));
  int64_t B = x.dim(0), T = x.dim(1), C = x.dim(2), D = C / heads;
  Value qkv = linear(x, wqkv, bqkv, site);  // [B, T, 3C]
  auto head = [&](int64_t i) {
    Value part = sliceAxis(qkv, 2, i * C, (i + 1) * C, site);
    return permute(reshape(part, {B, T, heads, D}, site), {0, 2, 1, 3}, site);  // [B, H, T, D]
  };
  Value q = head(0), k = head(1), v = head(2);
  Value scores = binary(Op::Mul, Operand(matmul(q, k, false, true, site), site), Operand(1.0 / std::sqrt(double(D)), site));
  Builder& b = x.builder();
  Type tt{DType::I32, {T, T}};
  Value causal = ge(Operand(b.iota(tt, 0, site), site), Operand(b.iota(tt, 1, site), site));  // key <= query
  Value masked = select(causal, Operand(scores, site), Operand(-std::numeric_limits<double>::infinity(), site), site);
  Value att = matmul(softmax(masked, -1, site), v, false, false, site);  // [B, H, T, D]
  Value merged = reshape(permute(att, {0, 2, 1, 3}, site), {B, T, C}, site);
  return linear(merged, wproj, bproj, site);
}

}  // namespace kiln
