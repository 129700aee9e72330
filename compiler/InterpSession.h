// InterpSession: the interpreter's Session (runtime/Session.h): runs a program again and again with the
// reference interpreter, holding the parameters and optimizer state between runs.
#pragma once

#include <cstdint>
#include <string>

#include "compiler/HostTensor.h"
#include "compiler/Interpreter.h"
#include "ir/Graph.h"
#include "runtime/Session.h"

namespace kiln {

/// Holds a program (outputs that alias leaves replace them after each run) and the values of its
/// parameters and state.
class InterpSession : public Session {
 public:
  /// Initialises parameters and state as the program declares, from `seed`. Throws Error if the program
  /// does not verify.
  InterpSession(Graph program, uint64_t seed, Precision precision = Precision::Declared);

  /// Runs the program once on `inputs` (every input, by name): returns every output, and replaces each
  /// aliased leaf with its output. A non-finite loss throws NonFiniteLoss naming the step and changes
  /// nothing.
  TensorMap step(const TensorMap& inputs);
  /// The loss of a step's outputs.
  static double loss(const TensorMap& outputs) { return outputs.at("loss").data.at(0); }

  /// step() on stored tensors; Error for a name that is not an input of the program.
  TensorFile run(const TensorFile& inputs) override;
  /// values(), in the stored form.
  TensorFile state() const override { return toStored(values_); }
  /// set() from the stored form.
  void setState(const std::string& name, const StoredTensor& value) override { set(name, fromStored(value, name)); }
  /// Name, stored dtype and shape of every parameter and state value.
  std::vector<TensorSpec> stateSpec() const override;
  /// Whether the program has a float scalar output `name`.
  bool hasScalarOutput(const std::string& name) const override;

  /// A parameter or state value by name; Error if there is none.
  const HostTensor& get(const std::string& name) const;
  /// Replaces a parameter or state value; Error if the name or the type does not match.
  void set(const std::string& name, const HostTensor& value);
  /// Every parameter and state value.
  const TensorMap& values() const { return values_; }
  /// The program it runs.
  const Graph& program() const { return program_; }

 private:
  Graph program_;
  Precision precision_;
  TensorMap values_;
};

}  // namespace kiln
