// The table of models by name.
#include <fmt/format.h>

#include "ir/Error.h"
#include "models/Models.h"

namespace kiln {

const std::vector<ModelSpec>& allModels() {
  static const std::vector<ModelSpec> models = {
      {"mlp", "784-512-512-10 MLP for Fashion-MNIST, cross-entropy", 128, buildMlp},
      {"cnn", "two conv + two linear layers for Fashion-MNIST, cross-entropy", 64, buildCnn},
      {"gpt", "char-level GPT: 4 layers, 4 heads, d_model 256, context 128, vocab 96", 16, buildGpt},
      {"gpt-block", "one GPT block on x [B,128,256], loss mse(block(x), target)", 16,
       [](int64_t batch) { return buildGptBlock(batch, 128); }},
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
