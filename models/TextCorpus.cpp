// The text corpus and the byte-level tokenizer (see TextCorpus.h).
#include "models/TextCorpus.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "ir/Error.h"

namespace kiln {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) {
  std::vector<int32_t> out(text.size());
  for (size_t i = 0; i < text.size(); ++i) out[i] = int32_t(static_cast<unsigned char>(text[i]));
  return out;
}

std::string ByteTokenizer::decode(const std::vector<int32_t>& tokens) {
  std::string out(tokens.size(), '\0');
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= kVocab)
      throw Error(fmt::format("token {} at {} is not a byte (byte-level tokens are 0..255)", tokens[i], i));
    out[i] = char(static_cast<unsigned char>(tokens[i]));
  }
  return out;
}

double TextCorpus::unigramEntropy() const {
  std::array<double, 256> count{};
  for (int32_t t : train) count[size_t(t)] += 1;
  double h = 0, n = double(train.size());
  for (double c : count)
    if (c > 0) h -= c / n * std::log(c / n);
  return h;
}

bool isTextData(const std::string& data) { return data == "text" || data.rfind("text:", 0) == 0; }

namespace {

std::string readFile(const std::filesystem::path& p, const std::string& verb) {
  std::error_code ec;
  if (!std::filesystem::exists(p, ec))
    throw Error(Location{p.string(), 0, 0}, fmt::format("{}: no such file{}", verb,
                                                         p.string().rfind(kFortunesDir, 0) == 0
                                                             ? " (Debian's fortunes package installs the default corpus)"
                                                             : ""));
  if (!std::filesystem::is_regular_file(p, ec)) throw Error(Location{p.string(), 0, 0}, verb + ": not a regular file");
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in && !in.eof()) throw Error(Location{p.string(), 0, 0}, verb + ": cannot read the file");
  return s.str();
}

}  // namespace

TextCorpus loadTextCorpus(const std::string& data, const std::string& verb, int64_t minimum) {
  if (!isTextData(data) || data == "text:")
    throw Error(fmt::format("{}: unknown --data '{}'; expected text or text:PATH", verb, data));
  TextCorpus c;
  std::string text;
  if (data == "text") {
    c.name = "fortunes";
    std::error_code ec;
    if (!std::filesystem::is_directory(kFortunesDir, ec))
      throw Error(Location{kFortunesDir, 0, 0},
                  verb + ": the default corpus is missing (Debian's fortunes package installs it; scripts/setup.sh does)");
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(kFortunesDir)) {
      std::string ext = e.path().extension().string();
      if (e.is_regular_file() && ext != ".dat" && ext != ".u8") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) text += readFile(f, verb);
  } else {
    c.name = data.substr(5);
    text = readFile(c.name, verb);
  }
  int64_t split = int64_t(text.size()) * 9 / 10;
  if (split < minimum || int64_t(text.size()) - split < minimum)
    throw Error(Location{c.name, 0, 0}, fmt::format("{}: {} bytes of text are too few: each split (90% train, 10% "
                                                    "validation) needs at least {}", verb, text.size(), minimum));
  c.train = ByteTokenizer::encode(std::string_view(text).substr(0, size_t(split)));
  c.validation = ByteTokenizer::encode(std::string_view(text).substr(size_t(split)));
  return c;
}

namespace {

/// A 64-bit finaliser (SplitMix64's): every input bit changes about half the output bits.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

void MaskedLm::corrupt(int32_t* tokens, int32_t* labels, int64_t n, uint64_t seed, uint64_t salt) {
  uint64_t key = mix(mix(seed + 0x9E3779B97F4A7C15ull) ^ salt);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t r = mix(key + uint64_t(i) * 0x9E3779B97F4A7C15ull);
    labels[i] = kIgnore;
    if (r % 1000 >= 150) continue;  // 15% chosen
    labels[i] = tokens[i];
    uint64_t how = (r >> 20) % 10;
    if (how < 8) tokens[i] = kMaskToken;
    else if (how == 8) tokens[i] = int32_t((r >> 40) % 256);
  }
}

}  // namespace kiln
