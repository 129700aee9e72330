// The checkpoint contract, one for every engine and the CLI: a checkpoint is a safetensors file holding
// every parameter and state value of a program, by name, with its dtype and shape, and nothing else. It is
// written atomically (temporary file, fsync, rename), so a crash leaves the old file or the new one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/Safetensors.h"

namespace kiln {

/// A value a checkpoint must hold: its name, dtype (safetensors name: F32, F64, I32, BOOL) and shape.
struct TensorSpec {
  std::string name;            ///< the leaf's name, the tensor's key in the file
  std::string dtype;           ///< safetensors dtype name
  std::vector<int64_t> shape;  ///< dimensions, outermost first
};

/// Writes `values` to `path` atomically, with `metadata` in the header (kiln train: the model and settings).
void saveCheckpoint(const std::string& path, const TensorFile& values, const Metadata& metadata = {});
/// Reads the checkpoint at `path` and checks that it holds exactly `expected`: every name with its dtype
/// and shape, and no other tensor. Error at `path` naming the first tensor that does not fit.
TensorFile loadCheckpoint(const std::string& path, const std::vector<TensorSpec>& expected);
/// Takes from `file`, a checkpoint read from `path` (readSafetensors), the tensors `wanted`: each must be
/// there with its dtype and shape, as loadCheckpoint checks; the others are ignored (a training checkpoint's
/// optimizer state, when a program only runs the model). Error at `path` naming the first that does not fit.
TensorFile takeCheckpointPart(TensorFile& file, const std::vector<TensorSpec>& wanted, const std::string& path);

}  // namespace kiln
