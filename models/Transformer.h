// The pre-LayerNorm transformer block GPT and BERT share: x + attention(LN(x)), then x + MLP(LN(x)) with a
// GELU MLP four times as wide, initialised as GPT-2 is (weights N(0, 0.02), biases zero, LayerNorm one and
// zero).
#pragma once

#include <string>

#include "ir/Builder.h"

namespace kiln {

/// One block's parameters, named PREFIX ln1.*, attn.qkv.*, attn.proj.*, ln2.*, mlp.fc.*, mlp.proj.*.
struct TransformerBlock {
  Value ln1g, ln1b, wqkv, bqkv, wproj, bproj, ln2g, ln2b, wfc, bfc, wout, bout;  ///< the parameters
  int64_t heads = 0;                                                             ///< attention heads
};

/// Declares a block's parameters in `b`, each name prefixed by `prefix` ("h0.").
TransformerBlock makeTransformerBlock(Builder& b, const std::string& prefix, int64_t width, int64_t heads);
/// Dropout in a block, as GPT-2's: on the two residual branches (the attention's and the MLP's output)
/// and on the attention probabilities.
struct BlockDropout {
  double p = 0;        ///< the probability; 0: none
  Value step = {};     ///< the i32[] step counter the masks are drawn with (see dropout in ir/Builder.h)
  /// The attention branch's stream; the MLP's is stream + 1. The probabilities use stream too, with the
  /// step counter plus 2^30: their counters (element + stream * numel, step) have another size of
  /// tensor, so they are kept apart from the branches' by the second word.
  int64_t stream = 0;
};

/// The residual MLP half of a block: x + proj(gelu(fc(LN2(x)))), the branch under dropout `d`.
Value transformerMlp(const TransformerBlock& k, Value x, const BlockDropout& d = {});
/// The whole block on x [B, T, C]: self-attention under `mask` (causal for GPT, none or padding for BERT),
/// with dropout `d` on the residual branches.
Value applyTransformerBlock(const TransformerBlock& k, Value x, const AttentionMask& mask, const BlockDropout& d = {});

}  // namespace kiln
