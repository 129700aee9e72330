// Engines for the train verb: the same training loop over the reference interpreter or the LLVM JIT.
#pragma once

#include <memory>
#include <string>

#include "compiler/HostTensor.h"
#include "compiler/Pipeline.h"
#include "ir/Graph.h"

namespace kiln {

/// A training program being run, and the forward graph evaluated for accuracy.
class Engine {
 public:
  virtual ~Engine() = default;
  /// One training step on a batch; returns the loss.
  virtual double step(const TensorMap& batch) = 0;
  /// Every parameter and state value.
  virtual TensorMap values() = 0;
  /// Replaces parameter and state values (every one, checked).
  virtual void setValues(const TensorMap& values) = 0;
  /// The outputs of `forward` (a graph over the same parameters) on `inputs` with the current parameters.
  virtual TensorMap evaluateForward(const TensorMap& inputs) = 0;
  /// Writes every parameter and state value to a safetensors file atomically.
  void save(const std::string& path);
  /// Reads a checkpoint written by save (by either engine).
  void load(const std::string& path);
};

/// "interp" or "jit"; the forward graph is what evaluateForward runs. Throws Error for another name.
std::unique_ptr<Engine> makeEngine(const std::string& kind, const Graph& program, const Graph& forward, uint64_t seed,
                                   const CompileOptions& opts, bool timePasses);

}  // namespace kiln
