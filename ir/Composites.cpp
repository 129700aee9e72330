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

Value crossEntropy(Value logits, Value labels, Value weights, Site site) {
  if (logits.rank() != 2 || labels.rank() != 1 || labels.dtype() != DType::I32 || labels.dim(0) != logits.dim(0) ||
      weights.type() != Type{logits.dtype(), {logits.dim(0)}})
    throw Error(Location::of(site), fmt::format("cross_entropy: expects logits [N, C], labels i32[N] and weights [N] of the "
                                                "logits' dtype, got {}, {} and {}",
                                                logits.type().str(), labels.type().str(), weights.type().str()));
  Builder& b = logits.builder();
  Type idx{DType::I32, logits.shape()};
  Value classes = b.iota(idx, 1, site);
  Value onehot = cast(eq(Operand(reshape(labels, {-1, 1}, site), site), Operand(classes, site)), logits.dtype(), site);
  Value weighted = binary(Op::Mul, Operand(onehot, site), Operand(reshape(weights, {-1, 1}, site), site));
  Value picked = sum(binary(Op::Mul, Operand(weighted, site), Operand(logSoftmax(logits, 1, site), site)), {0, 1}, false, site);
  return binary(Op::Div, Operand(neg(picked, site), site), Operand(sum(weights, {0}, false, site), site));
}

Value crossEntropy(Value logits, Value labels, int64_t ignoreIndex, Site site) {
  if (labels.dtype() != DType::I32 || logits.rank() < 1)
    throw Error(Location::of(site), fmt::format("cross_entropy: expects logits [N, C] and labels i32[N], got {} and {}",
                                                logits.type().str(), labels.type().str()));
  Value counted = cast(ne(Operand(labels, site), Operand(double(ignoreIndex), site)), logits.dtype(), site);
  return crossEntropy(logits, labels, counted, site);
}

Value philox(const Operand& a, const Operand& b) { return binary(Op::Philox, a, b); }

Value dropout(Value x, double p, Value step, int64_t stream, Site site) {
  if (!(p >= 0 && p < 1)) throw Error(Location::of(site), fmt::format("dropout: p must be in [0, 1), got {}", p));
  if (step.type() != Type{DType::I32, {}})
    throw Error(Location::of(site), fmt::format("dropout: the step counter must be i32[], got {}", step.type().str()));
  if (p == 0) return x;
  Builder& b = x.builder();
  Type idx{DType::I32, x.shape()};
  int64_t numel = 1, stride = 1;
  for (int64_t d : x.shape()) numel *= d;
  // The row-major index; the stream's offset wraps to 32 bits, as i32 arithmetic does in both engines.
  Value index = b.scalar(double(int32_t(uint32_t(uint64_t(stream) * uint64_t(numel)))), DType::I32, site);
  for (int64_t a = x.rank() - 1; a >= 0; stride *= x.dim(a), --a)
    index = binary(Op::Add, Operand(index, site), Operand(binary(Op::Mul, Operand(b.iota(idx, a, site), site),
                                                                 Operand(double(stride), site)), site));
  Value bits = binary(Op::Philox, Operand(index, site), Operand(step, site));
  // bits are uniform over [-2^31, 2^31): P(bits >= -2^31 + p 2^32) = 1 - p.
  double threshold = std::floor(-2147483648.0 + p * 4294967296.0);
  Value keep = ge(Operand(bits, site), Operand(threshold, site));
  return select(keep, Operand(binary(Op::Mul, Operand(x, site), Operand(1.0 / (1.0 - p), site)), site), Operand(0.0, site), site);
}

Value mse(Value a, Value b, Site site) {
  Value d = binary(Op::Sub, Operand(a, site), Operand(b, site));
  std::vector<int64_t> all;
  for (int64_t i = 0; i < d.rank(); ++i) all.push_back(i);
  return mean(binary(Op::Mul, Operand(d, site), Operand(d, site)), all, false, site);
}

namespace {

/// x [B, T, C] as heads [B, H, T, C/H].
Value splitHeads(Value x, int64_t heads, Site site) {
  return permute(reshape(x, {x.dim(0), x.dim(1), heads, x.dim(2) / heads}, site), {0, 2, 1, 3}, site);
}

/// Whether key j may be seen by query i: bool [Tq, Tk] for a causal mask, with the queries the last Tq of
/// the Tk positions (j <= i + Tk - Tq).
Value causalKeep(Builder& b, int64_t tq, int64_t tk, Site site) {
  Type tt{DType::I32, {tq, tk}};
  Value query = binary(Op::Add, Operand(b.iota(tt, 0, site), site), Operand(double(tk - tq), site));
  return ge(Operand(query, site), Operand(b.iota(tt, 1, site), site));
}

}  // namespace

Value attention(Value q, Value k, Value v, int64_t heads, const AttentionMask& mask, Site site) {
  bool shapesOk = q.rank() == 3 && k.rank() == 3 && v.type() == k.type() && q.dtype() == k.dtype() &&
                  q.dim(0) == k.dim(0) && q.dim(2) == k.dim(2) && heads >= 1 && q.dim(2) % heads == 0;
  if (!shapesOk)
    throw Error(Location::of(site), fmt::format("attention: expects q [B, Tq, C], k and v [B, Tk, C] of one dtype with C "
                                                "divisible by {} heads, got {}, {} and {}",
                                                heads, q.type().str(), k.type().str(), v.type().str()));
  int64_t B = q.dim(0), tq = q.dim(1), tk = k.dim(1), C = q.dim(2), D = C / heads;
  if (mask.causal && tq > tk)
    throw Error(Location::of(site), fmt::format("attention: a causal mask needs at least as many keys as queries, got {} "
                                                "queries and {} keys", tq, tk));
  Value scores = binary(Op::Mul, Operand(matmul(splitHeads(q, heads, site), splitHeads(k, heads, site), false, true, site), site),
                        Operand(1.0 / std::sqrt(double(D)), site));  // [B, H, Tq, Tk]
  Value keep;
  if (mask.causal) keep = causalKeep(q.builder(), tq, tk, site);
  if (mask.keep.id().valid()) {
    Shape want = mask.keep.rank() == 1 ? Shape{tk} : Shape{B, tk};
    if (mask.keep.dtype() != DType::Bool || mask.keep.shape() != want)
      throw Error(Location::of(site), fmt::format("attention: the key mask must be bool[{}] or bool[{}, {}], got {}", tk,
                                                  B, tk, mask.keep.type().str()));
    Value keys = mask.keep.rank() == 1 ? mask.keep : reshape(mask.keep, {B, 1, 1, tk}, site);
    keep = keep.id().valid() ? select(keep, Operand(keys, site), Operand(keep, site), site) : keys;  // causal and key
  }
  Value probs = softmax(keep.id().valid() ? select(keep, Operand(scores, site),
                                                   Operand(-std::numeric_limits<double>::infinity(), site), site)
                                          : scores,
                        -1, site);
  if (mask.dropout > 0) probs = dropout(probs, mask.dropout, mask.step, mask.stream, site);
  Value att = matmul(probs, splitHeads(v, heads, site), false, false, site);  // [B, H, Tq, D]
  return reshape(permute(att, {0, 2, 1, 3}, site), {B, tq, C}, site);
}

Value selfAttention(Value x, Value wqkv, Value bqkv, Value wproj, Value bproj, int64_t heads, const AttentionMask& mask,
                    Site site) {
  if (x.rank() != 3 || heads < 1 || x.dim(2) % heads != 0)
    throw Error(Location::of(site), fmt::format("attention: expects x [B, T, C] with C divisible by {} heads, got {}",
                                                heads, x.type().str()));
  int64_t C = x.dim(2);
  Value qkv = linear(x, wqkv, bqkv, site);  // [B, T, 3C]
  auto part = [&](int64_t i) { return sliceAxis(qkv, 2, i * C, (i + 1) * C, site); };
  return linear(attention(part(0), part(1), part(2), heads, mask, site), wproj, bproj, site);
}

Value causalSelfAttention(Value x, Value wqkv, Value bqkv, Value wproj, Value bproj, int64_t heads, Site site) {
  return selfAttention(x, wqkv, bqkv, wproj, bproj, heads, {.causal = true, .keep = {}}, site);
}

}  // namespace kiln
