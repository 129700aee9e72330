// The reference interpreter: naive, obviously correct evaluation of every op; the oracle of every
// numeric test. Each node is computed in double precision and, in Precision::Declared, rounded to its
// declared dtype (so f32 nodes hold correctly rounded f32 results); Precision::F64 evaluates an f32 graph
// entirely in f64, for gradient checks.
#pragma once

#include <vector>

#include "compiler/HostTensor.h"
#include "ir/Graph.h"

namespace kiln {

/// How the interpreter rounds f32 nodes.
enum class Precision { Declared, F64 };

/// Values for every node of `g`, given a tensor for every input, parameter and state leaf (by name). Throws Error
/// for a missing feed, a feed of the wrong dtype or shape, an index out of range (gather, scatter_add),
/// integer division by zero, or a cast of NaN or an out-of-range value to i32, naming the node.
std::vector<HostTensor> evaluateAll(const Graph& g, const TensorMap& feeds, Precision precision = Precision::Declared);

/// Throws the Error evaluateAll would for a feed that is missing or of the wrong dtype or shape: the check
/// every engine makes before it runs, so that the JIT never runs on values nobody gave it.
void checkFeeds(const Graph& g, const TensorMap& feeds);

/// The graph's outputs by name.
TensorMap evaluate(const Graph& g, const TensorMap& feeds, Precision precision = Precision::Declared);

}  // namespace kiln
