// Parameter initialisation and random inputs, deterministic for a seed on every machine (the generator
// and the distributions are kiln's own, not the standard library's implementation-defined ones).
#pragma once

#include <cstdint>

#include "compiler/HostTensor.h"
#include "ir/Graph.h"

namespace kiln {

/// A small deterministic generator (splitmix64) with uniform and normal draws.
class Rng {
 public:
  /// The stream of `seed`: the same seed gives the same draws on every machine.
  explicit Rng(uint64_t seed) : state_(seed) {}
  /// The next 64 random bits.
  uint64_t next();
  /// Uniform in [0, 1).
  double uniform();
  /// Standard normal (Box-Muller).
  double normal();

 private:
  uint64_t state_;
};

/// FNV-1a hash of a name: mixes a parameter's name into its seed, so adding a parameter leaves the
/// others' values unchanged.
uint64_t hashName(const std::string& name);

/// Values of every parameter and state leaf of `g` from its declared initialiser (see Init), seeded by
/// `seed`.
TensorMap initParameters(const Graph& g, uint64_t seed);

/// Random values for every input of `g`: floats from N(0, 1), bools fair, and i32 inputs within the
/// range their uses imply (rows of a gather table, classes of a comparison with an iota, else [0, 2)).
TensorMap randomInputs(const Graph& g, uint64_t seed);

/// The exclusive upper bound of valid values for i32 input `id`, derived from its users.
int64_t indexBound(const Graph& g, NodeId id);

}  // namespace kiln
