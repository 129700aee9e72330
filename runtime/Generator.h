// Generating from a language model: sampling a token from logits, and the model's incremental decoder (a
// forward-only program whose key/value caches are state) run one token after another. kiln generate
// (tools/Generate.cpp) drives them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/Session.h"

namespace kiln {

/// How a token is drawn from the logits.
struct SamplerOptions {
  double temperature = 1.0;  ///< logits are divided by it; 0 takes the most likely token (the first of equals)
  int64_t topK = 0;          ///< sample among the K most likely (ties at the K-th kept); 0: among all
};

/// The token drawn from `logits` with a uniform number u in [0, 1): the inverse of the cumulative
/// distribution of softmax(logits / temperature) over the top K. Error for empty logits.
int64_t sampleToken(const std::vector<double>& logits, const SamplerOptions& options, double u);

/// A decoder session (a ModelSpec::decoder program with its parameters) fed one token after another.
class Generator {
 public:
  /// Takes the decoder's session; positions run from 0 to context - 1.
  Generator(std::unique_ptr<Session> session, int64_t context);
  /// Runs the token at the next position; returns the logits for the token after it. Error past the context.
  std::vector<double> feed(int64_t token);
  /// The position the next feed runs at (the tokens fed so far).
  int64_t position() const { return pos_; }

 private:
  std::unique_ptr<Session> session_;
  int64_t context_, pos_ = 0;
};

}  // namespace kiln
