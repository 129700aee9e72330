// plan-memory: one arena for a scheduled graph, with offsets chosen by liveness.
#pragma once

#include <string>
#include <vector>

#include "ir/Graph.h"
#include "passes/Fuse.h"

namespace kiln {

/// One buffer of the arena: a value some kernel writes (or a leaf or constant), live from the kernel that
/// writes it to the last kernel that reads it. Times are kernel indices; -1 is "before the run" (leaves,
/// constants) and K (the kernel count) "after it" (outputs, parameters, state and constants stay).
struct PlannedBuffer {
  NodeId node;                    ///< the value it holds
  int64_t bytes = 0, offset = 0;  ///< size rounded up to 64 bytes, and byte offset in the arena
  int32_t first = 0, last = 0;    ///< live interval, inclusive (for bytes reused in place: the union)
  bool persistent = false;  ///< parameters, state and constants keep their value across runs
  NodeId inPlaceOf;         ///< the buffer it reuses in place (an operand dying in its kernel, or an aliased leaf)
};

/// Where every value lives.
struct MemoryPlan {
  std::vector<int64_t> offsetOf;  ///< per node; -1 for values that stay in registers; views share their source's
  std::vector<PlannedBuffer> buffers;  ///< one per value that needs memory, by node id
  int64_t peakBytes = 0;          ///< the arena's size
  int64_t lowerBoundBytes = 0;    ///< the most bytes live at any one time: no plan can need less
  int64_t noReuseBytes = 0;       ///< every buffer at its own offset
  std::string ordering;           ///< the placement order that gave the smallest arena
  /// lowerBoundBytes / peakBytes: 1 is optimal (1 as well for an empty plan).
  double efficiency() const { return peakBytes ? double(lowerBoundBytes) / double(peakBytes) : 1.0; }
};

/// Plans `g` run as `s`. Liveness is exact over the schedule; offsets are chosen by best fit over the live
/// intervals, for three placement orders (largest first, earliest first, longest-lived first), keeping the
/// smallest arena. A kernel's result reuses an operand's buffer in place when that operand dies in the
/// kernel and an element-wise kernel reads it at the same index; an output that aliases a parameter or
/// state leaf is placed on that leaf when the leaf dies in (or before) the kernel that writes the output.
/// Buffers are 64-byte aligned. Precondition: `s` is a schedule of `g`.
MemoryPlan planMemory(const Graph& g, const Schedule& s);

/// The plan without reuse, for unoptimised compiles: every value at its own 64-byte aligned offset (a
/// reshape shares its operand's), live for the whole run.
MemoryPlan planWithoutReuse(const Graph& g, const Schedule& s);

/// Checks `p` against the schedule without trusting the planner: lifetimes are recomputed from `s` (a
/// value lives from the kernel that writes it to the last kernel that reads it; outputs, and leaves not
/// replaced in place, to the end), and two values live at once may share bytes (at their real element
/// sizes) only as a legal in-place reuse: the older dies in the kernel that writes the newer at the same
/// offset, with as many elements of the same size, and that kernel reads the older only through its element
/// expression at the index it writes. Returns one line per problem; empty when the plan is sound.
/// (passes/PlanVerify.cpp)
std::vector<std::string> verifyPlan(const Graph& g, const Schedule& s, const MemoryPlan& p);

/// Peak, lower bound, no-reuse total, efficiency and a per-buffer table (passes/PlanText.cpp).
std::string printPlan(const Graph& g, const MemoryPlan& p);
/// {"peak_bytes", "lower_bound_bytes", "no_reuse_bytes", "efficiency", "buffers": [...]}.
std::string planToJson(const Graph& g, const MemoryPlan& p);
/// The arena over time as an SVG picture: one rectangle per buffer (x: kernels, y: bytes).
std::string planToSvg(const Graph& g, const MemoryPlan& p);

}  // namespace kiln
