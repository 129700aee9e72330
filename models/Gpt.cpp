// A character-level GPT decoder (pre-LayerNorm, GELU MLP, tied embeddings), initialised as GPT-2 is:
// weights N(0, 0.02), biases zero, LayerNorm gamma one and beta zero.
#include <fmt/format.h>

#include "ir/Builder.h"
#include "ir/Error.h"
#include "models/Models.h"

namespace kiln {

namespace {

constexpr int64_t kHeads = 4, kModel = 256;  // the block alone (buildGptBlock): the char-level preset's

struct GptBlock {
  Value ln1g, ln1b, wqkv, bqkv, wproj, bproj, ln2g, ln2b, wfc, bfc, wout, bout;
  int64_t heads = 0;
};

GptBlock makeBlock(Builder& b, const std::string& p, int64_t width, int64_t heads) {
  auto w = [&](const std::string& n, Shape s) { return b.parameter(p + n, s, Init::Normal, 0.02); };
  auto z = [&](const std::string& n, int64_t d) { return b.parameter(p + n, {d}, Init::Zeros); };
  return {b.parameter(p + "ln1.weight", {width}, Init::Ones), z("ln1.bias", width),
          w("attn.qkv.weight", {3 * width, width}), z("attn.qkv.bias", 3 * width),
          w("attn.proj.weight", {width, width}), z("attn.proj.bias", width),
          b.parameter(p + "ln2.weight", {width}, Init::Ones), z("ln2.bias", width),
          w("mlp.fc.weight", {4 * width, width}), z("mlp.fc.bias", 4 * width),
          w("mlp.proj.weight", {width, 4 * width}), z("mlp.proj.bias", width), heads};
}

Value applyBlock(const GptBlock& k, Value x) {
  x = x + causalSelfAttention(layerNorm(x, k.ln1g, k.ln1b), k.wqkv, k.bqkv, k.wproj, k.bproj, k.heads);
  return x + linear(gelu(linear(layerNorm(x, k.ln2g, k.ln2b), k.wfc, k.bfc)), k.wout, k.bout);
}

}  // namespace

Graph buildGptBlock(int64_t batch, int64_t seq) {
  Builder b("gpt-block");
  Value x = b.input("x", {DType::F32, {batch, seq, kModel}});
  Value target = b.input("target", {DType::F32, {batch, seq, kModel}});
  b.output("loss", mse(applyBlock(makeBlock(b, "h0.", kModel, kHeads), x), target));
  return b.finish();
}

Graph buildGpt(int64_t batch, const ModelConfig& c) {
  int64_t vocab = c.at("vocab"), context = c.at("context"), seq = c.at("seq"), width = c.at("width"), heads = c.at("heads");
  if (width % heads != 0) throw Error(fmt::format("gpt: heads={} must divide width={}", heads, width));
  if (seq > context) throw Error(fmt::format("gpt: seq={} exceeds context={} (the positions it has embeddings for)", seq, context));
  Builder b("gpt");
  Value tokens = b.input("tokens", {DType::I32, {batch, seq}});
  Value targets = b.input("targets", {DType::I32, {batch, seq}});
  Value wte = b.parameter("wte.weight", {vocab, width}, Init::Normal, 0.02);
  Value wpe = b.parameter("wpe.weight", {context, width}, Init::Normal, 0.02);
  Value x = gather(wte, tokens) + (seq == context ? wpe : sliceAxis(wpe, 0, 0, seq));  // [B, T, C]
  for (int64_t l = 0; l < c.at("layers"); ++l) x = applyBlock(makeBlock(b, "h" + std::to_string(l) + ".", width, heads), x);
  x = layerNorm(x, b.parameter("ln_f.weight", {width}, Init::Ones), b.parameter("ln_f.bias", {width}, Init::Zeros));
  Value logits = linear(x, wte);  // tied: [B, T, vocab]
  b.output("loss", crossEntropy(reshape(logits, {batch * seq, vocab}), reshape(targets, {batch * seq})));
  return b.finish();
}

}  // namespace kiln
