// The shared transformer block.
#include "models/Transformer.h"

namespace kiln {

TransformerBlock makeTransformerBlock(Builder& b, const std::string& p, int64_t width, int64_t heads) {
  auto w = [&](const std::string& n, Shape s) { return b.parameter(p + n, s, Init::Normal, 0.02); };
  auto z = [&](const std::string& n, int64_t d) { return b.parameter(p + n, {d}, Init::Zeros); };
  return {b.parameter(p + "ln1.weight", {width}, Init::Ones), z("ln1.bias", width),
          w("attn.qkv.weight", {3 * width, width}), z("attn.qkv.bias", 3 * width),
          w("attn.proj.weight", {width, width}), z("attn.proj.bias", width),
          b.parameter(p + "ln2.weight", {width}, Init::Ones), z("ln2.bias", width),
          w("mlp.fc.weight", {4 * width, width}), z("mlp.fc.bias", 4 * width),
          w("mlp.proj.weight", {width, 4 * width}), z("mlp.proj.bias", width), heads};
}

namespace {

/// The attention probabilities' masks draw with the step counter plus this (see BlockDropout).
constexpr int64_t kProbabilityStepOffset = int64_t(1) << 30;

Value drop(Value branch, const BlockDropout& d, int64_t stream) {
  return d.p > 0 ? dropout(branch, d.p, d.step, stream) : branch;
}

}  // namespace

Value transformerMlp(const TransformerBlock& k, Value x, const BlockDropout& d) {
  return x + drop(linear(gelu(linear(layerNorm(x, k.ln2g, k.ln2b), k.wfc, k.bfc)), k.wout, k.bout), d, d.stream + 1);
}

Value applyTransformerBlock(const TransformerBlock& k, Value x, const AttentionMask& mask, const BlockDropout& d) {
  AttentionMask m = mask;
  if (d.p > 0) m.dropout = d.p, m.step = d.step + double(kProbabilityStepOffset), m.stream = d.stream;
  Value att = selfAttention(layerNorm(x, k.ln1g, k.ln1b), k.wqkv, k.bqkv, k.wproj, k.bproj, k.heads, m);
  return transformerMlp(k, x + drop(att, d, d.stream), d);
}

}  // namespace kiln
