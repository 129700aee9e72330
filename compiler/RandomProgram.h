// Random op programs for differential testing: seeded graphs over the whole op table, each ending in a
// scalar loss, with values for every leaf, kept in every op's domain and away from the points where two
// correct engines may disagree (comparisons and casts near their thresholds, near-ties of max).
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/HostTensor.h"
#include "ir/Graph.h"

namespace kiln {

/// How big the programs are.
struct RandomProgramOptions {
  int32_t ops = 24;             ///< operations drawn (composites count as one; leaves are extra)
  int64_t maxElements = 256;    ///< no value has more elements
  int32_t maxRank = 4;          ///< no value has a higher rank
};

/// A program and a value for each of its inputs and parameters (by name).
struct RandomProgram {
  Graph graph;        ///< outputs: "loss" (a float scalar that depends on a parameter) and "out0".. (intermediates)
  TensorMap feeds;    ///< a value for every input and parameter, by name
  uint64_t seed = 0;  ///< the seed it came from, to reproduce it
};

/// The program of `seed`: the same seed gives the same program. Ranks 0 to opts.maxRank with dims of 0 and 1,
/// broadcasts, movement ops, reductions with and without kept dims, matmul, conv2d and the window ops,
/// gather and scatter_add with in-range indices, casts, comparisons and selects, composites (softmax,
/// log-softmax, layernorm, cross-entropy, gelu) and, on values that no parameter reaches, the gradient
/// ops. Every value is finite and at most 1e4 in magnitude at the fed point.
RandomProgram randomProgram(uint64_t seed, const RandomProgramOptions& opts = {});

/// Whether nodes [firstNew, end) of `g` hold values a differential test can trust at the fed point
/// (`values64` from the interpreter in f64, `values32` in the declared precision): finite, at most 1e4 in
/// magnitude, at most `maxElements` elements, f32 within 1e-5 (of the node's largest magnitude) of f64,
/// and no comparison, cast to i32 or bool, max/min, reduce_max or max_pool2d choice, or abs within 1e-4
/// (relative) of its threshold. (compiler/ProgramValues.cpp)
bool trustworthyValues(const Graph& g, int32_t firstNew, const std::vector<HostTensor>& values64,
                       const std::vector<HostTensor>& values32, int64_t maxElements);

}  // namespace kiln
