// fuse: groups the nodes of a graph into kernels, recording why every edge that stays between kernels does.
#pragma once

#include <string>
#include <vector>

#include "ir/Graph.h"

namespace kiln {

/// What a kernel computes, which decides how it is lowered (compiler/LowerFused.cpp).
enum class KernelKind : uint8_t {
  Elementwise,  ///< one loop nest over the root's shape, evaluating the members' expression
  Reduction,    ///< a reduction root, with element-wise producers fused into its operand
  Matmul,       ///< a matmul, with an element-wise epilogue
  Conv2d,       ///< a conv2d, with an element-wise epilogue
  Rows,         ///< stages that run one row at a time (FusedKernel::stages)
  Single,       ///< one node lowered by its op's own loop nest (movement, window, indexing, iota)
};

/// One kernel: its members (in id order, root last). The root and the members in `stores` (those used by
/// later kernels or by the graph's outputs) are written to memory; the other members live in registers.
/// Broadcast members are index mappings of their (materialized) operand and may appear in several kernels.
struct FusedKernel {
  KernelKind kind = KernelKind::Single;  ///< how it is lowered
  NodeId root;                           ///< the last member, always written to memory
  std::vector<NodeId> nodes;             ///< every member, in id order
  std::vector<NodeId> stores;  ///< root first, then other members written to memory
  /// For kind Rows: element-wise and reduction kernels that run one row at a time, in order, within one
  /// loop over the rows (softmax, layernorm, log-softmax with cross-entropy). Each stage maps or reduces
  /// the innermost axis of a row, or computes per-row scalars; a stage that reduces every axis adds each
  /// row's part to a total, and stages after it run once, after the last row.
  std::vector<FusedKernel> stages;
  Shape rows;        ///< Rows: the outer dims
  int64_t inner = 1; ///< Rows: the extent of the innermost axis
};

/// The verdict of one fusion check, as XLA's FusionDecision: empty when the edge may fuse, else the reason
/// it may not. The check that decides returns it, and a refused edge keeps that reason in the schedule.
struct FusionDecision {
  std::string reason;  ///< empty: may fuse; else a sentence for --explain-fusion
  /// Whether the edge may fuse.
  explicit operator bool() const { return reason.empty(); }
  /// The edge may fuse.
  static FusionDecision yes() { return {}; }
  /// The edge may not fuse, because of `why`.
  static FusionDecision no(std::string why) { return {std::move(why)}; }
};

/// An edge between kernels (or into a kernel from a node that was not fused) and why.
struct FusionRefusal {
  NodeId producer, consumer;  ///< the value and its user, in different kernels
  std::string reason;         ///< what the deciding check said, or which kernel stores the producer
};

/// The kernels of a graph in execution order.
struct Schedule {
  std::vector<FusedKernel> kernels;  ///< in the order they run
  /// For every node: the kernel that writes it to memory; -1 for leaves and constants (in memory already),
  /// reshapes (views of their operand) and broadcasts that every user inlines.
  std::vector<int32_t> kernelOf;
  std::vector<FusionRefusal> refusals;  ///< every edge between kernels, by consumer id (none from free nodes)
};

/// The schedule of `g`. Element-wise chains and broadcasts fuse into one loop nest; element-wise producers
/// fuse into reductions; element-wise consumers fuse into matmul and conv2d as epilogues. An element-wise
/// producer joins its consumer's kernel when each of its other users is in a kernel that runs later (then
/// it is also stored for them): no value is computed twice, and kernels run in the order of their roots.
/// A matmul or conv2d hosts an epilogue only when all its users are in that kernel. Precondition: `g`
/// verifies.
Schedule fuse(const Graph& g);

/// Merges runs of consecutive kernels of `s` that work row by row (a reduction over the innermost axis,
/// then maps, per-row scalars, further row reductions, a total across rows) into one "rows" kernel each,
/// and drops the refusals between their stages. Part of fuse (passes/FuseRows.cpp).
void mergeRows(const Graph& g, Schedule& s);

/// One kernel per node that needs one (the unfused schedule: what the JIT runs without fusion).
Schedule unfusedSchedule(const Graph& g);

/// The kind of the kernel that holds a node of op `op` alone: element-wise, reduction, matmul, conv2d or single.
KernelKind kernelKindOf(Op op);
/// The kind's name in schedules: elementwise, reduction, matmul, conv2d, rows, or for a single-node kernel
/// the op name of its root.
std::string kindName(const Graph& g, const FusedKernel& k);

/// Whether member `m` of kernel `k` is computed by the kernel's element expression (element-wise and
/// reduction kernels, and the epilogue of a matmul or conv2d) rather than by its op's own loop nest.
/// Operands of expression members that are splat constants are immediates: they need no memory.
bool isExpressionMember(const Graph& g, const FusedKernel& k, NodeId m);
/// Whether constant `c` is a splat (one value for every element).
bool isSplatConstant(const Graph& g, NodeId c);

/// The kernels, their nodes, and with `explain` every refusal with its reason.
std::string printSchedule(const Graph& g, const Schedule& s, bool explain);
/// {"kernels": N, "nodes": ..., "kernel_list": [...], "refusals": [...]}.
std::string scheduleToJson(const Graph& g, const Schedule& s);

}  // namespace kiln
