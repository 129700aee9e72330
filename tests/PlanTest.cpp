// The memory plan checked by an independent validator: for every model's training program, no two values
// live at the same time share bytes of the arena (except an in-place reuse at the one kernel where the
// old value dies and the new one is written at the same index), and every aliasing output lands on the
// leaf it replaces. Liveness is recomputed here from the schedule, not taken from the plan.
#include <doctest/doctest.h>

#include <algorithm>

#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Fuse.h"
#include "passes/Optimizer.h"
#include "passes/PlanMemory.h"
#include "passes/Simplify.h"

namespace kiln {

namespace {

struct Life {
  NodeId node;
  int64_t offset, bytes;
  int32_t def, last;
};

NodeId storage(const Graph& g, NodeId n) {
  while (g[n].op == Op::Reshape) n = g[n].inputs[0];
  return n;
}

/// Every value the plan gives memory, with its lifetime computed from the schedule.
std::vector<Life> lifetimes(const Graph& g, const Schedule& s, const MemoryPlan& p) {
  int32_t K = int32_t(s.kernels.size());
  std::vector<int32_t> def(size_t(g.size()), -2), last(size_t(g.size()), -2);
  std::vector<bool> replaced(size_t(g.size()), false);  // leaves an aliasing output replaces
  for (const Output& o : g.outputs())
    if (o.aliases.valid()) replaced[size_t(o.aliases.v)] = true;
  for (int32_t i = 0; i < g.size(); ++i) {
    Op op = g.nodes()[size_t(i)].op;
    if (isNamedLeaf(op) || op == Op::Constant) def[size_t(i)] = -1;
    // State keeps its value to the end of the run, unless an output replaces it: then its old value is
    // needed only until its last read, and its buffer may take the new value.
    if ((op == Op::Parameter || op == Op::State || op == Op::Constant) && !replaced[size_t(i)]) last[size_t(i)] = K;
  }
  for (int32_t k = 0; k < K; ++k) {
    const FusedKernel& kn = s.kernels[size_t(k)];
    for (NodeId m : kn.nodes) {
      if (def[size_t(m.v)] == -2 && g[m].op != Op::Broadcast) def[size_t(m.v)] = k;  // stored or scratch
      for (NodeId in : g[m].inputs) {
        NodeId src = storage(g, in);
        if (std::find(kn.nodes.begin(), kn.nodes.end(), src) == kn.nodes.end()) last[size_t(src.v)] = std::max(last[size_t(src.v)], k);
      }
    }
    for (NodeId st : kn.stores) last[size_t(st.v)] = std::max(last[size_t(st.v)], k);
  }
  for (const Output& o : g.outputs()) last[size_t(storage(g, o.node).v)] = K;
  std::vector<Life> out;
  for (int32_t i = 0; i < g.size(); ++i) {
    if (g.nodes()[size_t(i)].op == Op::Reshape || p.offsetOf[size_t(i)] < 0) continue;
    out.push_back({NodeId{i}, p.offsetOf[size_t(i)], g.nodes()[size_t(i)].type.bytes(), def[size_t(i)],
                   std::max(last[size_t(i)], def[size_t(i)])});
  }
  return out;
}

}  // namespace

TEST_CASE("memory plans: live values never share bytes, and aliasing outputs land on their leaves") {
  struct Case {
    std::string model, optimizer;
    int64_t batch;
  };
  for (const Case& c : {Case{"mlp", "sgd-momentum", 128}, Case{"mlp", "adamw", 8}, Case{"cnn", "adam", 8},
                        Case{"gpt", "adamw", 2}, Case{"gpt-block", "sgd", 2}}) {
    INFO(c.model, " with ", c.optimizer);
    OptimizerOptions o;
    o.kind = c.optimizer;
    Graph g = simplify(addOptimizer(autodiff(findModel(c.model).build(c.batch)), o));
    Schedule s = fuse(g);
    MemoryPlan p = planMemory(g, s);
    std::vector<Life> lives = lifetimes(g, s, p);
    int64_t conflicts = 0, reuses = 0;
    for (size_t a = 0; a < lives.size(); ++a)
      for (size_t b = a + 1; b < lives.size(); ++b) {
        const Life &x = lives[a], &y = lives[b];
        bool timeOverlap = x.def <= y.last && y.def <= x.last;
        bool memOverlap = x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes;
        if (!timeOverlap || !memOverlap || x.bytes == 0 || y.bytes == 0) continue;
        // The one legal overlap: the same buffer handed from a value dying in kernel k to one written there.
        const Life& older = x.def <= y.def ? x : y;
        const Life& newer = x.def <= y.def ? y : x;
        std::string kind = newer.def >= 0 ? s.kernels[size_t(newer.def)].kind : "";
        bool inPlace = x.offset == y.offset && older.last == newer.def &&
                       (kind == "elementwise" || kind == "matmul" || kind == "conv2d");
        if (inPlace) {
          reuses++;
          continue;
        }
        conflicts++;
        INFO("%", x.node.v, " [", x.def, ",", x.last, "] and %", y.node.v, " [", y.def, ",", y.last, "] overlap in memory");
        CHECK(false);
      }
    CHECK(conflicts == 0);
    int aliased = 0, landed = 0;
    for (const Output& out : g.outputs())
      if (out.aliases.valid()) {
        aliased++;
        landed += p.offsetOf[size_t(out.node.v)] == p.offsetOf[size_t(out.aliases.v)];
      }
    MESSAGE(c.model, " ", c.optimizer, ": ", s.kernels.size(), " kernels, arena ", p.peakBytes, " bytes, lower bound ",
            p.lowerBoundBytes, ", no reuse ", p.noReuseBytes, "; ", reuses, " in-place reuses; ", landed, " of ", aliased,
            " aliasing outputs in place");
    CHECK(aliased > 0);
    CHECK(landed == aliased);
    CHECK(p.peakBytes >= p.lowerBoundBytes);
    CHECK(p.efficiency() >= 0.95);
  }
}

}  // namespace kiln
