// A character-level GPT decoder (pre-LayerNorm, GELU MLP, tied embeddings), initialised as GPT-2 is:
// weights N(0, 0.02), biases zero, LayerNorm gamma one and beta zero.
#include <fmt/format.h>

#include "ir/Builder.h"
#include "ir/Error.h"
#include "models/Layers.h"
#include "models/Models.h"
#include "models/Transformer.h"

namespace kiln {

namespace {

constexpr int64_t kHeads = 4, kModel = 256;  // the block alone (buildGptBlock): the char-level preset's

/// A block on the newest position x [B, 1, C] at `pos`: its key and value are written into the caches
/// `p`cache.k and `p`cache.v [B, context, C] (state, updated through aliasing outputs), and its query attends
/// to the positions the caches hold, 0 to pos.
Value applyBlockCached(Builder& b, const TransformerBlock& k, Value x, Value pos, const std::string& p, int64_t context) {
  int64_t C = x.dim(2);
  Value qkv = linear(layerNorm(x, k.ln1g, k.ln1b), k.wqkv, k.bqkv);
  auto part = [&](int64_t i) { return sliceAxis(qkv, 2, i * C, (i + 1) * C); };
  Value positions = b.iota({DType::I32, {context}}, 0);
  Value here = reshape(eq(positions, pos), {context, 1});
  auto cached = [&](const std::string& name, Value fresh) {
    Value cache = b.state(p + name, {x.dtype(), {x.dim(0), context, C}});
    Value next = select(here, fresh, cache);
    b.output(p + name, next, cache.id());
    return next;
  };
  Value keys = cached("cache.k", part(1)), values = cached("cache.v", part(2));
  Value att = attention(part(0), keys, values, k.heads, {.causal = false, .keep = le(positions, pos)});
  return transformerMlp(k, x + linear(att, k.wproj, k.bproj));
}

struct GptSizes {
  int64_t vocab, context, seq, width, heads, layers;
  double dropout;  ///< the probability (the setting is in percent)
};

GptSizes gptSizes(const ModelConfig& c) {
  constexpr int64_t kMax = int64_t(1) << 32;
  GptSizes s{c.at("vocab", 1, kMax), c.at("context", 1, kMax), c.at("seq", 1, kMax), c.at("width", 1, kMax),
             c.at("heads", 1, kMax), c.at("layers", 0, kMax), double(c.at("dropout", 0, 99)) / 100};
  if (s.width % s.heads != 0) throw Error(fmt::format("gpt: heads={} must divide width={}", s.heads, s.width));
  if (s.seq > s.context)
    throw Error(fmt::format("gpt: seq={} exceeds context={} (the positions it has embeddings for)", s.seq, s.context));
  return s;
}

/// The parameters, in the order every GPT program declares them (so one seed initialises them alike).
struct GptParams {
  EmbeddingLayer wte, wpe;
  std::vector<TransformerBlock> blocks;
  Value lnfg, lnfb;
};

GptParams declareGpt(Builder& b, const GptSizes& s) {
  GptParams w{makeEmbedding(b, "wte", s.vocab, s.width, 0.02), makeEmbedding(b, "wpe", s.context, s.width, 0.02), {}, {}, {}};
  for (int64_t l = 0; l < s.layers; ++l)
    w.blocks.push_back(makeTransformerBlock(b, "h" + std::to_string(l) + ".", s.width, s.heads));
  w.lnfg = b.parameter("ln_f.weight", {s.width}, Init::Ones);
  w.lnfb = b.parameter("ln_f.bias", {s.width}, Init::Zeros);
  return w;
}

/// The logits [B, T, vocab] of tokens i32[B, T] at positions 0..T-1.
/// With a step counter and s.dropout > 0, dropout on the embeddings (stream 0) and on each block's branches
/// (streams 1 + 2l and 2 + 2l) and attention probabilities (stream 1 + 2l, see BlockDropout), as GPT-2's.
Value gptLogits(const GptParams& w, const GptSizes& s, Value tokens, Value step = {}) {
  int64_t T = tokens.dim(1);
  Value x = w.wte(tokens) + (T == s.context ? w.wpe.weight : sliceAxis(w.wpe.weight, 0, 0, T));  // [B, T, C]
  bool drops = s.dropout > 0 && step.id().valid();
  if (drops) x = dropout(x, s.dropout, step, 0);
  for (size_t l = 0; l < w.blocks.size(); ++l)
    x = applyTransformerBlock(w.blocks[l], x, {.causal = true, .keep = {}},
                              {drops ? s.dropout : 0, step, 1 + 2 * int64_t(l)});
  return linear(layerNorm(x, w.lnfg, w.lnfb), w.wte.weight);  // tied
}

}  // namespace

Graph buildGptBlock(int64_t batch, int64_t seq) {
  Builder b("gpt-block");
  Value x = b.input("x", {DType::F32, {batch, seq, kModel}});
  Value target = b.input("target", {DType::F32, {batch, seq, kModel}});
  TransformerBlock block = makeTransformerBlock(b, "h0.", kModel, kHeads);
  b.output("loss", mse(applyTransformerBlock(block, x, {.causal = true, .keep = {}}), target));
  return b.finish();
}

Graph buildGpt(int64_t batch, const ModelConfig& c) {
  GptSizes s = gptSizes(c);
  Builder b("gpt");
  Value tokens = b.input("tokens", {DType::I32, {batch, s.seq}});
  Value targets = b.input("targets", {DType::I32, {batch, s.seq}});
  GptParams w = declareGpt(b, s);
  Value step;
  if (s.dropout > 0) {  // the masks' step counter, advanced by every run of the training step
    step = b.state("dropout.step", {DType::I32, {}});
    b.output("dropout.step", step + 1.0, step.id());
  }
  Value logits = gptLogits(w, s, tokens, step);
  b.output("loss", crossEntropy(reshape(logits, {batch * s.seq, s.vocab}), reshape(targets, {batch * s.seq})));
  return b.finish();
}

Graph buildGptLogits(int64_t batch, int64_t seq, const ModelConfig& c) {
  GptSizes s = gptSizes(c);
  if (seq < 1 || seq > s.context) throw Error(fmt::format("gpt: {} positions do not fit a context of {}", seq, s.context));
  Builder b("gpt-logits");
  Value tokens = b.input("tokens", {DType::I32, {batch, seq}});
  b.output("logits", gptLogits(declareGpt(b, s), s, tokens));
  return b.finish();
}

Graph buildGptDecoder(int64_t batch, const ModelConfig& c) {
  GptSizes s = gptSizes(c);
  Builder b("gpt-decoder");
  Value token = b.input("token", {DType::I32, {batch, 1}});
  Value pos = b.input("pos", {DType::I32, {}});
  GptParams w = declareGpt(b, s);
  Value x = w.wte(token) + w.wpe(reshape(pos, {1}));  // [B, 1, C]
  for (int64_t l = 0; l < s.layers; ++l)
    x = applyBlockCached(b, w.blocks[size_t(l)], x, pos, "h" + std::to_string(l) + ".", s.context);
  Value logits = linear(layerNorm(x, w.lnfg, w.lnfb), w.wte.weight);
  b.output("logits", reshape(logits, {batch, s.vocab}));
  return b.finish();
}

}  // namespace kiln
