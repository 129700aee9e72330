// The model zoo: models written in the DSL, registered by name, batch size a parameter.
// Every model has inputs and a scalar output "loss"; see each builder for its inputs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/Graph.h"

namespace kiln {

/// A model's size settings: named whole numbers (layers, heads, width, ...), each given by the model's
/// preset and changed with `--set key=value`.
struct ModelConfig {
  std::vector<std::pair<std::string, int64_t>> values;  ///< in the preset's order
  /// The value of `key`; Error when the model has no such setting.
  int64_t at(const std::string& key) const;
  /// The value of `key`, Error naming it unless it is in [min, max].
  int64_t at(const std::string& key, int64_t min, int64_t max) const;
  /// "layers=4, heads=4, ..." (empty for a model without settings).
  std::string str() const;
  /// "layers=4,heads=4,...": what ModelSpec::configure reads back (checkpoints store it).
  std::string sets() const;
};

/// A registered model.
struct ModelSpec {
  std::string name;         ///< as the CLI spells it: `kiln train mlp`
  std::string description;  ///< one line for `kiln models`
  int64_t defaultBatch;     ///< the batch size when --batch is not given
  /// The forward graph at a batch size and configuration, with its "loss" output.
  std::function<Graph(int64_t batch, const ModelConfig&)> builder;
  ModelConfig preset = {};  ///< the settings `--set` may change, at the values this model has
  /// For a language model, the one-token step of incremental decoding `kiln generate` runs (inputs token
  /// i32[B, 1] and pos i32[], output logits f32[B, vocab], as buildGptDecoder); empty for other models.
  std::function<Graph(int64_t batch, const ModelConfig&)> decoder = {};
  /// The vocabulary `kiln train --data text` sets (unless --set gives one): 256 bytes for a GPT, 257 (the
  /// bytes and [MASK]) for a masked LM; 0 for a model that does not read text.
  int64_t textVocab = 0;
  /// The forward graph at a batch size, with the preset's settings.
  Graph build(int64_t batch) const { return builder(batch, preset); }
  /// The forward graph at a batch size and configuration.
  Graph build(int64_t batch, const ModelConfig& c) const { return builder(batch, c); }
  /// The preset with each "key=value" of the comma-separated `sets` applied ("layers=2,width=128");
  /// Error naming an unknown key (and the known ones) or a value that is not a positive whole number.
  ModelConfig configure(const std::string& sets) const;
};

/// All models, in a fixed order.
const std::vector<ModelSpec>& allModels();
/// The model called `name`; throws Error listing the known names.
const ModelSpec& findModel(const std::string& name);

/// MLP on 28x28 images: inputs x f32[B,784], labels i32[B]; Linear(784,512)-ReLU-Linear(512,512)-ReLU-
/// Linear(512,10), cross-entropy. Outputs loss and logits.
Graph buildMlp(int64_t batch);
/// CNN on 28x28 images: inputs x f32[B,1,28,28], labels i32[B]; Conv(1,32,5)-ReLU-MaxPool2-Conv(32,64,5)-
/// ReLU-MaxPool2-flatten(1024)-Linear(1024,512)-ReLU-Linear(512,10), cross-entropy.
Graph buildCnn(int64_t batch);
/// A GPT-2 style decoder: inputs tokens i32[B,seq], targets i32[B,seq]; `layers` pre-LN blocks of `heads`
/// heads over `width` (GELU MLP 4x), tied embeddings of `vocab` tokens, learned positions for `context`
/// (seq <= context), and `dropout` percent (0 to 99; default 0) on the embeddings and every residual
/// branch, its masks drawn from a state dropout.step the training step advances. Presets: gpt (char-
/// level: vocab 96, context = seq = 128, 4 layers, 4 heads, width 256: 3,216,896 parameters) and
/// gpt2-124m (vocab 50257, context 1024, 12 layers, 12 heads, width 768: 124,439,808 parameters). Error
/// when heads does not divide width, seq exceeds context, or a setting is out of its range.
Graph buildGpt(int64_t batch, const ModelConfig& config);
/// The GPT's logits for whole sequences: input tokens i32[B, seq] at positions 0..seq-1, output logits
/// f32[B, seq, vocab]; the parameters of buildGpt (same names, declared in the same order). Error when seq
/// is not in 1..context.
Graph buildGptLogits(int64_t batch, int64_t seq, const ModelConfig& config);
/// One step of incremental decoding for `kiln generate`: inputs token i32[B, 1] and pos i32[] (its
/// position), output logits f32[B, vocab] for the next token. Each layer's keys and values are state,
/// h<l>.cache.k and h<l>.cache.v f32[B, context, width]: the step writes its own at row pos (through
/// outputs that alias them) and attends to rows 0..pos, so steps at 0, 1, ... give the logits buildGptLogits
/// gives for the whole prefix. The parameters are buildGpt's.
Graph buildGptDecoder(int64_t batch, const ModelConfig& config);
/// A BERT-style encoder for masked language modelling: inputs tokens i32[B,seq] (corrupted) and labels
/// i32[B,seq] (the original token where one is to be predicted, -100 elsewhere); embeddings with a
/// LayerNorm, `layers` pre-LN blocks of bidirectional attention with `heads` heads over `width`, learned
/// positions for `context`, GELU, BERT's prediction head tied to the token embeddings, `dropout` as the
/// GPT's. Outputs loss (cross-entropy over the labelled positions) and logits [B, seq, vocab]. Preset
/// bert: byte-level with [MASK] (vocab 257), context = seq = 128, 4 layers, 4 heads, width 256.
Graph buildBert(int64_t batch, const ModelConfig& config);
/// The char-level preset's settings (see buildGpt).
ModelConfig gptPreset();
/// One block of the GPT (parameters named h0.*) on x f32[B,T,256], with loss mse(block(x), target):
/// the unit the PyTorch comparison checks.
Graph buildGptBlock(int64_t batch, int64_t seq);

}  // namespace kiln
