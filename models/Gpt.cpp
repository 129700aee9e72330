// A character-level GPT decoder (pre-LayerNorm, GELU MLP, tied embeddings), initialised as GPT-2 is:
// weights N(0, 0.02), biases zero, LayerNorm gamma one and beta zero.
#include "ir/Builder.h"
#include "models/Models.h"

namespace kiln {

namespace {

constexpr int64_t kVocab = 96, kContext = 128, kLayers = 4, kHeads = 4, kModel = 256;

struct GptBlock {
  Value ln1g, ln1b, wqkv, bqkv, wproj, bproj, ln2g, ln2b, wfc, bfc, wout, bout;
};

GptBlock makeBlock(Builder& b, const std::string& p) {
  auto w = [&](const std::string& n, Shape s) { return b.parameter(p + n, s, Init::Normal, 0.02); };
  auto z = [&](const std::string& n, int64_t d) { return b.parameter(p + n, {d}, Init::Zeros); };
  return {b.parameter(p + "ln1.weight", {kModel}, Init::Ones), z("ln1.bias", kModel),
          w("attn.qkv.weight", {3 * kModel, kModel}), z("attn.qkv.bias", 3 * kModel),
          w("attn.proj.weight", {kModel, kModel}), z("attn.proj.bias", kModel),
          b.parameter(p + "ln2.weight", {kModel}, Init::Ones), z("ln2.bias", kModel),
          w("mlp.fc.weight", {4 * kModel, kModel}), z("mlp.fc.bias", 4 * kModel),
          w("mlp.proj.weight", {kModel, 4 * kModel}), z("mlp.proj.bias", kModel)};
}

Value applyBlock(const GptBlock& k, Value x) {
  x = x + causalSelfAttention(layerNorm(x, k.ln1g, k.ln1b), k.wqkv, k.bqkv, k.wproj, k.bproj, kHeads);
  return x + linear(gelu(linear(layerNorm(x, k.ln2g, k.ln2b), k.wfc, k.bfc)), k.wout, k.bout);
}

}  // namespace

Graph buildGptBlock(int64_t batch, int64_t seq) {
  Builder b("gpt-block");
  Value x = b.input("x", {DType::F32, {batch, seq, kModel}});
  Value target = b.input("target", {DType::F32, {batch, seq, kModel}});
  b.output("loss", mse(applyBlock(makeBlock(b, "h0."), x), target));
  return b.finish();
}

Graph buildGpt(int64_t batch) {
  Builder b("gpt");
  Value tokens = b.input("tokens", {DType::I32, {batch, kContext}});
  Value targets = b.input("targets", {DType::I32, {batch, kContext}});
  Value wte = b.parameter("wte.weight", {kVocab, kModel}, Init::Normal, 0.02);
  Value wpe = b.parameter("wpe.weight", {kContext, kModel}, Init::Normal, 0.02);
  Value x = gather(wte, tokens) + wpe;  // [B, T, C]
  for (int64_t l = 0; l < kLayers; ++l) x = applyBlock(makeBlock(b, "h" + std::to_string(l) + "."), x);
  x = layerNorm(x, b.parameter("ln_f.weight", {kModel}, Init::Ones), b.parameter("ln_f.bias", {kModel}, Init::Zeros));
  Value logits = linear(x, wte);  // tied: [B, T, vocab]
  b.output("loss", crossEntropy(reshape(logits, {batch * kContext, kVocab}), reshape(targets, {batch * kContext})));
  return b.finish();
}

}  // namespace kiln
