// The table of models by name.
#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "ir/Error.h"
#include "models/Models.h"

namespace kiln {

namespace {

/// A builder without settings.
std::function<Graph(int64_t, const ModelConfig&)> plain(Graph (*build)(int64_t)) {
  return [build](int64_t batch, const ModelConfig&) { return build(batch); };
}

ModelConfig gpt2Small() {
  return {{{"vocab", 50257}, {"context", 1024}, {"seq", 1024}, {"layers", 12}, {"heads", 12}, {"width", 768}, {"dropout", 0}}};
}

}  // namespace

ModelConfig gptPreset() {
  return {{{"vocab", 96}, {"context", 128}, {"seq", 128}, {"layers", 4}, {"heads", 4}, {"width", 256}, {"dropout", 0}}};
}

int64_t ModelConfig::at(const std::string& key) const {
  for (const auto& [k, v] : values)
    if (k == key) return v;
  throw Error(fmt::format("the model has no setting '{}'", key));
}

int64_t ModelConfig::at(const std::string& key, int64_t min, int64_t max) const {
  int64_t v = at(key);
  if (v < min || v > max) throw Error(fmt::format("the model's setting {}={} must be in [{}, {}]", key, v, min, max));
  return v;
}

std::string ModelConfig::sets() const {
  std::string out;
  for (const auto& [k, v] : values) out += fmt::format("{}{}={}", out.empty() ? "" : ",", k, v);
  return out;
}

std::string ModelConfig::str() const {
  std::string out;
  for (const auto& [k, v] : values) out += fmt::format("{}{}={}", out.empty() ? "" : ", ", k, v);
  return out;
}

ModelConfig ModelSpec::configure(const std::string& sets) const {
  ModelConfig c = preset;
  size_t at = 0;
  while (at < sets.size()) {
    size_t end = std::min(sets.find(',', at), sets.size());
    std::string item = sets.substr(at, end - at), key = item.substr(0, item.find('='));
    at = end + 1;
    auto it = std::find_if(c.values.begin(), c.values.end(), [&](const auto& kv) { return kv.first == key; });
    if (it == c.values.end()) {
      std::string known;
      for (const auto& [k, v] : c.values) known += (known.empty() ? "" : ", ") + k;
      throw Error(fmt::format("--set {}: {} has no setting '{}' ({})", item, name, key,
                              known.empty() ? "it has no settings" : "its settings: " + known));
    }
    std::string value = item.find('=') == std::string::npos ? "" : item.substr(item.find('=') + 1);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || ec != std::errc() || p != value.data() + value.size() || v < 0 || v > (int64_t(1) << 32))
      throw Error(fmt::format("--set {}: expected {}=N with N a whole number from 0 to 2^32", item, key));
    it->second = v;
  }
  return c;
}

const std::vector<ModelSpec>& allModels() {
  static const std::vector<ModelSpec> models = {
      {"mlp", "784-512-512-10 MLP for Fashion-MNIST, cross-entropy", 128, plain(buildMlp)},
      {"cnn", "two conv + two linear layers for Fashion-MNIST, cross-entropy", 64, plain(buildCnn)},
      {"gpt", "char-level GPT: 4 layers, 4 heads, d_model 256, context 128, vocab 96", 16, buildGpt, gptPreset(),
       buildGptDecoder, 256},
      {"gpt2-124m", "GPT-2 small: 12 layers, 12 heads, d_model 768, context 1024, vocab 50257, tied embeddings", 4,
       buildGpt, gpt2Small(), buildGptDecoder, 256},
      {"bert", "BERT-style masked LM over bytes: 4 layers, 4 heads, d_model 256, context 128, vocab 257 (with [MASK])",
       16, buildBert, {{{"vocab", 257}, {"context", 128}, {"seq", 128}, {"layers", 4}, {"heads", 4}, {"width", 256}, {"dropout", 0}}}, {}, 257},
      {"gpt-block", "one GPT block on x [B,128,256], loss mse(block(x), target)", 16,
       [](int64_t batch, const ModelConfig&) { return buildGptBlock(batch, 128); }},
  };
  return models;
}

const ModelSpec& findModel(const std::string& name) {
  std::string known;
  for (const ModelSpec& m : allModels()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  throw Error(fmt::format("unknown model '{}'; known models: {}", name, known));
}

}  // namespace kiln
