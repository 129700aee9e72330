// split-reductions: two-phase reductions, so that threads can share a reduction that sums much input into
// few outputs without its result depending on how many there are.
#pragma once

#include "ir/Graph.h"

namespace kiln {

/// Elements read or written per chunk of a kernel: about 20 microseconds of work (compiler/Pipeline.cpp's
/// chunksFor splits by it, and this pass sizes its runs by it).
inline constexpr int64_t kElementsPerChunk = 16384;
/// The fewest bytes of outputs a chunk of a reduction split over its outputs writes: chunks that add
/// into one cache line would fight over it.
inline constexpr int64_t kMinChunkOutputBytes = 256;

/// Rewrites each reduce_sum / reduce_max whose outputs are too few to split among threads (a bias
/// gradient of a convolution, the total of a norm), and each such conv2d_grad_weight (a weight gradient
/// summed over many samples), into partials over G runs of axis 0 (`groups=G`: rows or samples
/// [g*N/G, (g+1)*N/G)) and a combine that reduces the partials in order along their new axis 0:
///
///   %2 = reduce_sum %1 {axes=[0,2,3]} : f32[32]
/// becomes
///   %2 = reduce_sum %1 {axes=[0,2,3], groups=13} : f32[13,32]
///   %3 = reduce_sum %2 {axes=[0]} : f32[32]
///
/// G is chosen from the shapes alone (about one run per 16K elements of input, at most 64, and the
/// partials at most a quarter of the input), never from a thread count, so the result is the same at any
/// thread count. Precondition: `g` verifies. Postcondition: the result verifies and computes the same
/// outputs up to the order of the additions; outputs, leaves and provenance are kept.
Graph splitReductions(const Graph& g);

}  // namespace kiln
