// A BERT-style encoder for masked language modelling: learned token and position embeddings and BERT's
// LayerNorm over their sum (without it, the small N(0, 0.02) positions leave the model at the unigram
// plateau for thousands of steps, in kiln and in PyTorch alike), pre-LayerNorm
// blocks of bidirectional self-attention and GELU MLPs (models/Transformer.h), a final LayerNorm, and
// BERT's prediction head (dense, GELU, LayerNorm, the token embeddings tied as the decoder, a bias).
// Initialised as GPT-2 is: weights N(0, 0.02), biases zero, LayerNorm one and zero.
#include <fmt/format.h>

#include "ir/Error.h"
#include "models/Layers.h"
#include "models/Models.h"
#include "models/Transformer.h"

namespace kiln {

Graph buildBert(int64_t batch, const ModelConfig& c) {
  constexpr int64_t kMax = int64_t(1) << 32;
  int64_t vocab = c.at("vocab", 1, kMax), context = c.at("context", 1, kMax), seq = c.at("seq", 1, kMax);
  int64_t width = c.at("width", 1, kMax), heads = c.at("heads", 1, kMax);
  double p = double(c.at("dropout", 0, 99)) / 100;
  if (width % heads != 0) throw Error(fmt::format("bert: heads={} must divide width={}", heads, width));
  if (seq > context) throw Error(fmt::format("bert: seq={} exceeds context={} (the positions it has embeddings for)", seq, context));
  Builder b("bert");
  Value tokens = b.input("tokens", {DType::I32, {batch, seq}});
  Value labels = b.input("labels", {DType::I32, {batch, seq}});
  EmbeddingLayer embed = makeEmbedding(b, "embed.tokens", vocab, width, 0.02);
  Value wte = embed.weight, wpe = makeEmbedding(b, "embed.positions", context, width, 0.02).weight;
  Value x = embed(tokens) + (seq == context ? wpe : sliceAxis(wpe, 0, 0, seq));  // [B, T, C]
  x = layerNorm(x, b.parameter("embed.ln.weight", {width}, Init::Ones), b.parameter("embed.ln.bias", {width}, Init::Zeros));
  Value step;
  if (p > 0) {  // as GPT's: streams 0 (embeddings), 1 + 2l and 2 + 2l (block l's branches and probabilities)
    step = b.state("dropout.step", {DType::I32, {}});
    b.output("dropout.step", step + 1.0, step.id());
    x = dropout(x, p, step, 0);
  }
  for (int64_t l = 0; l < c.at("layers", 0, kMax); ++l)
    x = applyTransformerBlock(makeTransformerBlock(b, fmt::format("layers.{}.", l), width, heads), x, {}, {p, step, 1 + 2 * l});
  x = layerNorm(x, b.parameter("ln_f.weight", {width}, Init::Ones), b.parameter("ln_f.bias", {width}, Init::Zeros));
  Value dense = linear(x, b.parameter("head.dense.weight", {width, width}, Init::Normal, 0.02),
                       b.parameter("head.dense.bias", {width}, Init::Zeros));
  Value h = layerNorm(gelu(dense), b.parameter("head.ln.weight", {width}, Init::Ones), b.parameter("head.ln.bias", {width}, Init::Zeros));
  Value logits = linear(h, wte, b.parameter("head.bias", {vocab}, Init::Zeros));  // [B, T, vocab]
  b.output("loss", crossEntropy(reshape(logits, {batch * seq, vocab}), reshape(labels, {batch * seq}), -100));
  b.output("logits", logits);
  return b.finish();
}

}  // namespace kiln
