// InterpSession: runs a training program step after step with the reference interpreter, holding the
// parameters and optimizer state between steps.
#pragma once

#include <cstdint>
#include <string>

#include "compiler/HostTensor.h"
#include "compiler/Interpreter.h"
#include "ir/Graph.h"

namespace kiln {

/// Holds a training program (outputs that alias leaves replace them after each step) and the values of
/// its parameters and state.
class InterpSession {
 public:
  /// Initialises parameters and state as the program declares, from `seed`. The program must have a
  /// scalar output "loss". Throws Error if it does not verify.
  InterpSession(Graph program, uint64_t seed, Precision precision = Precision::Declared);

  /// Runs one step on `batch` (every input, by name): returns every output, and replaces each aliased
  /// leaf with its output. A non-finite loss is an Error naming the step, unless allowNonFinite is set;
  /// then the step still updates.
  TensorMap step(const TensorMap& batch);
  /// The loss of the last step's outputs.
  static double loss(const TensorMap& outputs) { return outputs.at("loss").data.at(0); }

  /// A parameter or state value by name; Error if there is none.
  const HostTensor& get(const std::string& name) const;
  /// Replaces a parameter or state value; Error if the name or the type does not match.
  void set(const std::string& name, const HostTensor& value);
  /// Every parameter and state value.
  const TensorMap& values() const { return values_; }
  /// Steps run so far.
  int64_t steps() const { return steps_; }
  const Graph& program() const { return program_; }

  bool allowNonFinite = false;

 private:
  Graph program_;
  Precision precision_;
  TensorMap values_;
  int64_t steps_ = 0;
};

}  // namespace kiln
