// Text to train language models on: a plain-text corpus (by default Debian's fortunes), split into train
// and validation, and the byte-level tokenizer that turns it into tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// Where Debian's fortunes package installs its plain English text (one file per theme).
inline constexpr const char* kFortunesDir = "/usr/share/games/fortunes";

/// Byte-level tokens: each byte is its own token, so the vocabulary is the 256 byte values, needs no
/// training and no file beside a checkpoint, and every text decodes back to itself.
struct ByteTokenizer {
  static constexpr int64_t kVocab = 256;  ///< tokens 0..255
  /// One token per byte of `text`.
  static std::vector<int32_t> encode(std::string_view text);
  /// The bytes of `tokens`; Error naming the first token outside 0..255.
  static std::string decode(const std::vector<int32_t>& tokens);
};

/// A corpus as tokens, split at a fixed place: the first 90% of its bytes train, the last 10% validate.
struct TextCorpus {
  std::string name;                        ///< "fortunes" or the file's path
  std::vector<int32_t> train, validation;  ///< byte-level tokens of each split
  /// The entropy of the training split's byte frequencies, in nats: the loss of a model that knows only
  /// how often each byte occurs, the bar a language model must get under.
  double unigramEntropy() const;
};

/// BERT's masked language modelling: the corruption of a window and the labels to predict.
struct MaskedLm {
  static constexpr int32_t kMaskToken = 256;  ///< [MASK], the token after the bytes (a vocabulary of 257)
  static constexpr int32_t kIgnore = -100;    ///< the label of a position not to predict (cross-entropy's ignore index)
  /// Corrupts the `n` tokens at `tokens` in place and writes their labels: each position is chosen with
  /// probability 15%, from a hash of (seed, salt, position) so that a window's masking is fixed by them; a
  /// chosen token becomes [MASK] 80% of the time, a random byte 10%, and stays 10%, and its label is the
  /// original token; the other labels are kIgnore.
  static void corrupt(int32_t* tokens, int32_t* labels, int64_t n, uint64_t seed, uint64_t salt);
};

/// Whether a --data value names text: "text" or "text:PATH".
bool isTextData(const std::string& data);
/// The corpus a --data value names: "text" is every fortune file of kFortunesDir (those without the .dat
/// and .u8 endings of its indexes), in name order, joined; "text:PATH" is the file at PATH. Error naming
/// `verb` and the path when it is missing (with the package to install), not a regular file, or too short
/// to hold `minimum` bytes in each split.
TextCorpus loadTextCorpus(const std::string& data, const std::string& verb, int64_t minimum);

}  // namespace kiln
