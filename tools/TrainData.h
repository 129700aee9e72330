// What `kiln train` trains on (--data): Fashion-MNIST images for the classifiers, text for the language
// models. Each source hands out the batches of its training split in a seeded order and evaluates the
// model after each epoch.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ir/Graph.h"
#include "runtime/Session.h"

namespace kiln {

/// An evaluation of the model on held-out data.
struct Evaluation {
  std::string text;    ///< the rest of the epoch's line: "test accuracy 88.11% (10000 images)"
  std::string metric;  ///< what `value` is, as --log names it: "test_accuracy" (percent) or "validation_loss"
  double value;        ///< NaN when the model's loss was not finite
};

/// A training data source.
class TrainData {
 public:
  /// Sources are held by pointer to the interface.
  virtual ~TrainData() = default;
  /// What it is, for the header line ("Fashion-MNIST", "text fortunes (...)").
  virtual std::string describe() const = 0;
  /// The unit of the progress line's rate: "img" or "tok".
  virtual std::string unit() const = 0;
  /// Units (images or tokens) in one training step.
  virtual int64_t unitsPerStep() const = 0;
  /// Whole batches in the training split (an incomplete last batch is dropped).
  virtual int64_t stepsPerEpoch() const = 0;
  /// The batch of training step `step`: the order within its epoch comes from the seed and the epoch.
  virtual TensorFile batch(int64_t step) = 0;
  /// The batch size of the forward program that evaluates.
  virtual int64_t evalBatch() const = 0;
  /// The evaluation after an epoch (or --eval-every steps), with the parameters of `train` copied into
  /// `forward` (the model at evalBatch()).
  virtual Evaluation evaluate(const Session& train, Session& forward) = 0;
};

/// The source `data` names for the training program `program` (whose inputs fix the batch): fashion-mnist
/// (needs inputs x and labels and an output logits) or text (inputs tokens and targets, a vocabulary of
/// at least 256: byte-level tokens). `evalLimit`: test images (a multiple of 100) or validation windows
/// to evaluate on, all when absent. Error naming `data` for a source that does not fit the program.
std::unique_ptr<TrainData> makeTrainData(const std::string& data, const Graph& program, uint64_t seed,
                                         std::optional<int64_t> evalLimit);

}  // namespace kiln
