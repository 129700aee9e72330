// Sessions: a program run again and again, its parameters and state held between runs. Session is the
// interface every engine's session shares (the JIT's JitSession here, the interpreter's InterpSession in
// compiler/); programs with a loss train step by step, programs without one (evaluation, generation) just
// run. Checkpoints follow runtime/Checkpoint.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ir/Error.h"
#include "runtime/Checkpoint.h"
#include "runtime/Executable.h"
#include "runtime/Safetensors.h"

namespace kiln {

/// A loss that is NaN or infinite: training stops, and the parameters are those before the step.
class NonFiniteLoss : public Error {
 public:
  /// The loss `loss` of step `step`; what() says the step, the value (nan, inf, -inf) and that training stopped.
  NonFiniteLoss(int64_t step, double loss);
  int64_t step() const { return step_; }  ///< the step (counted by the session) whose loss it was
  double loss() const { return loss_; }  ///< the loss: NaN or ±infinity
  /// The loss as the messages write it: "nan", "inf" or "-inf".
  std::string lossText() const;

 private:
  int64_t step_;
  double loss_;
};

/// A program and the values of its parameters and state, run again and again.
class Session {
 public:
  /// Sessions are held by pointer to the interface (kiln train runs either engine's).
  virtual ~Session() = default;
  /// Feeds `inputs` (every input of the program, by name, checked), runs the program once and returns
  /// every output; each leaf an output aliases then holds that output. When the program has a loss (the
  /// float scalar output lossName()) that is not finite, throws NonFiniteLoss and changes nothing (a
  /// caller that skips such steps, as `kiln train --allow-nan`, catches it).
  virtual TensorFile run(const TensorFile& inputs) = 0;
  /// As run, returning only the output `name` (a session may skip reading back the others, as a decoder's
  /// updated caches); Error when the program has no such output.
  virtual StoredTensor runFor(const TensorFile& inputs, const std::string& name);
  /// Every parameter and state value, by name.
  virtual TensorFile state() const = 0;
  /// Replaces one parameter or state value; Error for an unknown name or a wrong dtype or shape.
  virtual void setState(const std::string& name, const StoredTensor& value) = 0;
  /// The name, dtype and shape of every parameter and state value: what a checkpoint holds.
  virtual std::vector<TensorSpec> stateSpec() const = 0;
  /// Whether the program has a float scalar output `name`.
  virtual bool hasScalarOutput(const std::string& name) const = 0;
  /// Whether the program has its loss to train on.
  bool hasLoss() const { return hasScalarOutput(loss_); }
  /// The output `step` trains on and `run` checks: "loss" unless trainOn chose another.
  const std::string& lossName() const { return loss_; }
  /// Trains on output `name` instead; Error unless it is a float scalar output of the program.
  void trainOn(const std::string& name);

  /// One training step: run(batch), returning the loss. Error if the program has no loss. (A session may
  /// do it without reading back the other outputs.)
  virtual double step(const TensorFile& batch);
  /// Writes every parameter and state value as a checkpoint, atomically, with the metadata set below.
  void save(const std::string& path) const { saveCheckpoint(path, state(), metadata_); }
  /// What save writes in the checkpoint's header (kiln train: kiln.model, kiln.settings, kiln.tokenizer).
  void setMetadata(Metadata metadata) { metadata_ = std::move(metadata); }
  /// Reads a checkpoint written by any engine's session for the same program; a checkpoint that does not
  /// fit leaves the session as it was.
  void load(const std::string& path);
  /// Runs done by this session object.
  int64_t steps() const { return steps_; }

 protected:
  int64_t steps_ = 0;
  std::string loss_ = "loss";
  Metadata metadata_;
};

/// The JIT's session: a compiled program and its arena.
class JitSession : public Session {
 public:
  /// Takes `program` with its parameters and state as they are (compileSession initialises them first).
  explicit JitSession(std::unique_ptr<Executable> program);

  /// As Session::run. With a loss, the kernels that finish it run first and the loss is checked before
  /// any state changes for good (state updated in place earlier is saved and restored).
  TensorFile run(const TensorFile& inputs) override;
  /// As Session::step, reading back only the loss (not every updated parameter).
  double step(const TensorFile& batch) override;
  /// As Session::runFor, reading back only that output.
  StoredTensor runFor(const TensorFile& inputs, const std::string& name) override;
  /// values().
  TensorFile state() const override { return values(); }
  /// set().
  void setState(const std::string& name, const StoredTensor& value) override { set(name, value); }
  /// The leaves' buffers: name, dtype and shape.
  std::vector<TensorSpec> stateSpec() const override;
  /// Whether the executable has a float scalar output `name`.
  bool hasScalarOutput(const std::string& name) const override;

  /// A parameter or state value by name.
  StoredTensor get(const std::string& name) const { return exe_->get(name); }
  /// Replaces a parameter or state value (dtype and shape checked).
  void set(const std::string& name, const StoredTensor& value) { exe_->set(name, value); }
  /// Every parameter and state value, by name.
  TensorFile values() const;
  /// The compiled program.
  Executable& executable() { return *exe_; }

 private:
  /// Runs the kernels up to the one that finishes the loss and checks it; throws NonFiniteLoss with the
  /// parameters and state as they were.
  void runToLoss();
  /// Feeds `inputs`, runs the program (checking the loss first, when it has one) and commits the updates.
  void execute(const TensorFile& inputs);

  std::unique_ptr<Executable> exe_;
};

}  // namespace kiln
