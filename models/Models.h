// The model zoo: models written in the DSL, registered by name, batch size a parameter.
// Every model has inputs and a scalar output "loss"; see each builder for its inputs.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/Graph.h"

namespace kiln {

/// A registered model.
struct ModelSpec {
  std::string name;                           ///< as the CLI spells it: `kiln train mlp`
  std::string description;                    ///< one line for `kiln models`
  int64_t defaultBatch;                       ///< the batch size when --batch is not given
  std::function<Graph(int64_t batch)> build;  ///< the forward graph at a batch size, with its "loss" output
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
/// Character-level GPT: inputs tokens i32[B,128], targets i32[B,128]; vocab 96, 4 pre-LN layers of
/// 4 heads, d_model 256, GELU MLP 4x, tied embeddings, learned positions (3,216,896 parameters).
Graph buildGpt(int64_t batch);
/// One block of the GPT (parameters named h0.*) on x f32[B,T,256], with loss mse(block(x), target):
/// the unit the PyTorch comparison checks.
Graph buildGptBlock(int64_t batch, int64_t seq);

}  // namespace kiln
