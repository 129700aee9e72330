// Session: runs a compiled training program step after step. Parameters and optimizer state live in the
// executable's arena between steps; checkpoints are safetensors files written atomically.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/Executable.h"
#include "runtime/Safetensors.h"

namespace kiln {

/// A training program (outputs "loss" and aliased parameter and state updates), compiled, with its state.
class Session {
 public:
  explicit Session(std::unique_ptr<Executable> program);

  /// Feeds `batch` (every input by name, checked for dtype and shape), runs one step and returns the loss.
  /// A NaN or infinite loss is an Error naming the step, and the parameters stay as they were, unless
  /// allowNonFinite is set.
  double step(const TensorFile& batch);
  /// A parameter or state value by name.
  StoredTensor get(const std::string& name) const { return exe_->get(name); }
  /// Replaces a parameter or state value (dtype and shape checked).
  void set(const std::string& name, const StoredTensor& value) { exe_->set(name, value); }
  /// Every parameter and state value, by name.
  TensorFile values() const;
  /// Writes every parameter and state value to a safetensors file, atomically (temporary file, fsync,
  /// rename): a crash leaves the old checkpoint or the new one, never half of one.
  void save(const std::string& path) const;
  /// Reads a checkpoint: every parameter and state value must be there with its dtype and shape, and
  /// nothing else. Resuming from it gives the same next step as not stopping.
  void load(const std::string& path);
  /// Steps run by this session object.
  int64_t steps() const { return steps_; }
  Executable& executable() { return *exe_; }

  bool allowNonFinite = false;

 private:
  std::unique_ptr<Executable> exe_;
  int64_t steps_ = 0;
};

}  // namespace kiln
