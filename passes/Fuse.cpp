// Fusion by growing kernels from their roots, in reverse id order, then merging element-wise consumers into
// matmul and conv2d as epilogues; every edge left between kernels gets its reason.
#include "passes/Fuse.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace kiln {

bool isFree(Op op) { return isNamedLeaf(op) || op == Op::Constant || op == Op::Reshape; }

bool isExpressionMember(const Graph& g, const FusedKernel& k, NodeId m) {
  Op op = g[m].op;
  if (k.kind == "elementwise" || k.kind == "reduction" || k.kind == "rows") return true;
  if (k.kind == "matmul" || k.kind == "conv2d") return op != Op::Matmul && op != Op::Conv2d;
  return false;
}

bool isSplatConstant(const Graph& g, NodeId c) {
  const Node& n = g[c];
  return n.op == Op::Constant && std::get<ConstAttrs>(n.attrs).values.size() == 1;
}

namespace {

bool isReduction(Op op) { return op == Op::ReduceSum || op == Op::ReduceMax; }
bool hostsEpilogue(Op op) { return op == Op::Matmul || op == Op::Conv2d; }

struct Fuser {
  const Graph& g;
  std::vector<std::vector<NodeId>> users = g.users();
  std::vector<int32_t> group = std::vector<int32_t>(size_t(g.size()), -1);  // non-broadcast members
  std::vector<FusedKernel> groups;
  std::vector<Shape> iteration;  // per group: the shape its loop nest runs over
  std::map<int32_t, std::vector<int32_t>> inlinedBy;  // broadcast -> groups that inline it
  std::vector<bool> isOutput = [&] {
    std::vector<bool> o(size_t(g.size()), false);
    for (const Output& out : g.outputs()) o[size_t(out.node.v)] = true;
    return o;
  }();

  bool inGroup(NodeId n, int32_t gi) const { return group[size_t(n.v)] == gi; }
  /// Whether every use of `p` is inside group gi (a graph output is a use outside every kernel).
  bool usersIn(NodeId p, int32_t gi) const {
    if (isOutput[size_t(p.v)]) return false;
    for (NodeId u : users[size_t(p.v)])
      if (!inGroup(u, gi)) return false;
    return !users[size_t(p.v)].empty();
  }

  /// Pulls element-wise producers (all of whose users are already in the group) and broadcasts into group gi.
  void grow(int32_t gi, std::vector<NodeId> work) {
    const Shape& shape = iteration[size_t(gi)];
    while (!work.empty()) {
      NodeId m = work.back();
      work.pop_back();
      for (NodeId p : g[m].inputs) {
        const Node& pn = g[p];
        if (pn.type.shape != shape || isFree(pn.op) || group[size_t(p.v)] >= 0) continue;
        if (pn.op == Op::Broadcast) {
          auto& by = inlinedBy[p.v];
          if (std::find(by.begin(), by.end(), gi) == by.end()) by.push_back(gi);
        } else if (isElementwise(pn.op) && canJoin(p, gi)) {
          group[size_t(p.v)] = gi;
          groups[size_t(gi)].nodes.push_back(p);
          work.push_back(p);
        }
      }
    }
  }

  /// An element-wise producer may join group gi if every user is in gi or in a kernel whose root comes
  /// after gi's root (that kernel runs later and reads the value from memory).
  bool canJoin(NodeId p, int32_t gi) const {
    for (NodeId u : users[size_t(p.v)]) {
      int32_t ug = group[size_t(u.v)];
      if (ug != gi && (ug < 0 || groups[size_t(ug)].root <= groups[size_t(gi)].root)) return false;
    }
    return true;
  }

  void formGroups() {
    for (int32_t i = g.size() - 1; i >= 0; --i) {
      const Node& n = g.nodes()[size_t(i)];
      if (isFree(n.op) || n.op == Op::Broadcast || group[size_t(i)] >= 0) continue;
      int32_t gi = int32_t(groups.size());
      group[size_t(i)] = gi;
      std::string kind = isElementwise(n.op) ? "elementwise" : isReduction(n.op) ? "reduction" : std::string(opName(n.op));
      groups.push_back({kind, NodeId{i}, {NodeId{i}}, {}});
      iteration.push_back(isReduction(n.op) ? g[n.inputs[0]].type.shape : n.type.shape);
      if (isElementwise(n.op)) grow(gi, {NodeId{i}});
      if (isReduction(n.op)) grow(gi, {NodeId{i}});
    }
  }

  /// An element-wise kernel whose operand is a matmul or conv2d of its own shape, used only inside it,
  /// takes that node as its host: the kernel computes the contraction and applies the rest as an epilogue.
  void mergeEpilogues() {
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      if (groups[gi].kind != "elementwise") continue;
      for (size_t k = 0; k < groups[gi].nodes.size(); ++k) {
        NodeId m = groups[gi].nodes[k];
        for (NodeId p : g[m].inputs) {
          int32_t pg = group[size_t(p.v)];
          if (groups[gi].kind != "elementwise" || pg < 0 || !hostsEpilogue(g[p].op)) continue;
          if (g[p].type.shape != iteration[gi] || !usersIn(p, int32_t(gi))) continue;
          // users of p are all in gi: move p there and retire its own kernel
          group[size_t(p.v)] = int32_t(gi);
          groups[size_t(pg)].nodes.clear();
          groups[gi].nodes.push_back(p);
          groups[gi].kind = std::string(opName(g[p].op));
        }
      }
    }
  }

  std::string refusal(NodeId p, NodeId c, int32_t cg) const {
    const Node &pn = g[p], &cn = g[c];
    const FusedKernel& k = groups[size_t(cg)];
    bool elementwiseContext = isElementwise(cn.op) || (isReduction(cn.op) && k.root == c);
    if (!elementwiseContext) return fmt::format("{} reads its operands from memory", opName(cn.op));
    const Shape& shape = iteration[size_t(cg)];
    if (pn.type.shape != shape)
      return fmt::format("{} iterates {}, the consumer's kernel iterates {}", opName(pn.op), shapeStr(pn.type.shape), shapeStr(shape));
    if (hostsEpilogue(pn.op) && k.kind != "elementwise" && k.root != p)
      return fmt::format("{} hosts only element-wise epilogues, and the consumer's kernel is a {}", opName(pn.op), k.kind);
    if (!isElementwise(pn.op) && !hostsEpilogue(pn.op) && pn.op != Op::Broadcast)
      return fmt::format("{} results are written to memory (only element-wise producers and broadcasts fuse into consumers)",
                         opName(pn.op));
    int32_t pg = group[size_t(p.v)];
    if (pg >= 0 && groups[size_t(pg)].root != p)
      return fmt::format("%{} is fused into the earlier kernel of %{} ({}), which stores it", p.v, groups[size_t(pg)].root.v,
                         groups[size_t(pg)].kind);
    for (NodeId u : users[size_t(p.v)])
      if (!inGroup(u, cg)) return fmt::format("%{} is also used by %{} ({}) in another kernel", p.v, u.v, opName(g[u].op));
    if (isOutput[size_t(p.v)]) return fmt::format("%{} is a graph output, so it is written to memory", p.v);
    return "not fused";
  }

  Schedule finish() {
    Schedule s;
    s.kernelOf.assign(size_t(g.size()), -1);
    // Broadcasts that some user does not inline get a kernel of their own.
    for (int32_t i = 0; i < g.size(); ++i) {
      if (g.nodes()[size_t(i)].op != Op::Broadcast) continue;
      bool allInlined = !users[size_t(i)].empty() && !isOutput[size_t(i)];
      for (NodeId u : users[size_t(i)]) {
        auto& by = inlinedBy[i];
        allInlined &= group[size_t(u.v)] >= 0 && std::find(by.begin(), by.end(), group[size_t(u.v)]) != by.end();
      }
      if (!allInlined) {
        group[size_t(i)] = int32_t(groups.size());
        groups.push_back({"broadcast", NodeId{i}, {NodeId{i}}, {}});
        iteration.push_back(g.nodes()[size_t(i)].type.shape);
      }
    }
    for (auto& [b, gs] : inlinedBy)
      for (int32_t gi : gs) groups[size_t(gi)].nodes.push_back(NodeId{b});
    std::vector<int32_t> order;
    for (size_t gi = 0; gi < groups.size(); ++gi)
      if (!groups[gi].nodes.empty()) order.push_back(int32_t(gi));
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return groups[size_t(a)].root < groups[size_t(b)].root; });
    std::vector<int32_t> position(groups.size(), -1);
    for (int32_t gi : order) {
      FusedKernel k = groups[size_t(gi)];
      std::sort(k.nodes.begin(), k.nodes.end());
      k.root = k.nodes.back();
      k.stores = {k.root};
      for (NodeId m : k.nodes)
        if (m != k.root && g[m].op != Op::Broadcast && !usersIn(m, gi)) k.stores.push_back(m);
      position[size_t(gi)] = int32_t(s.kernels.size());
      for (NodeId m : k.stores) s.kernelOf[size_t(m.v)] = int32_t(s.kernels.size());
      s.kernels.push_back(k);
    }
    for (int32_t c = 0; c < g.size(); ++c) {
      int32_t cg = group[size_t(c)];
      if (cg < 0) continue;
      for (NodeId p : g.nodes()[size_t(c)].inputs) {
        if (isFree(g[p].op) || group[size_t(p.v)] == cg) continue;
        auto& by = inlinedBy[p.v];
        if (g[p].op == Op::Broadcast && std::find(by.begin(), by.end(), cg) != by.end()) continue;
        s.refusals.push_back({p, NodeId{c}, refusal(p, NodeId{c}, cg)});
      }
    }
    return s;
  }
};

}  // namespace

namespace {

/// How a kernel runs as a stage of a rows kernel over rows R and innermost extent N.
enum class Stage { None, Map, RowReduce, TotalReduce, RowScalar, FinalScalar };

Stage stageOf(const Graph& g, const FusedKernel& k, const Shape& R, int64_t N, bool afterTotal) {
  Shape full = R;
  full.push_back(N);
  Shape keep = R;
  keep.push_back(1);
  const Node& root = g[k.root];
  if (k.kind == "reduction") {
    if (afterTotal || g[root.inputs[0]].type.shape != full) return Stage::None;
    auto& axes = std::get<ReduceAttrs>(root.attrs).axes;
    if (axes.size() == 1 && axes[0] == int64_t(R.size())) return Stage::RowReduce;
    if (axes.size() == full.size()) return Stage::TotalReduce;
    return Stage::None;
  }
  if (k.kind != "elementwise") return Stage::None;
  const Shape& s = root.type.shape;
  if (afterTotal) return s.empty() ? Stage::FinalScalar : Stage::None;
  if (s == full) return Stage::Map;
  if (s == keep || s == R) return Stage::RowScalar;
  return Stage::None;
}

/// Whether every value stage `k` reads from earlier stages of the run is read at its own row.
bool rowAligned(const Graph& g, const FusedKernel& k, const std::vector<int32_t>& inRun, const Shape& R, int64_t N) {
  Shape full = R, keep = R;
  full.push_back(N);
  keep.push_back(1);
  for (NodeId m : k.nodes)
    for (NodeId in : g[m].inputs) {
      if (inRun[size_t(in.v)] < 0 || std::find(k.nodes.begin(), k.nodes.end(), in) != k.nodes.end()) continue;
      const Shape& s = g[in].type.shape;
      bool ok = g[m].op == Op::Broadcast ? (s == keep || s == R) && g[m].type.shape == full
                                          : s == g[m].type.shape || (s.empty() && g[m].type.shape.empty());
      if (!ok) return false;
    }
  return true;
}

/// Merges runs of consecutive kernels that work row by row (a reduction over the innermost axis, then
/// maps, row scalars, further row reductions, a total) into one rows kernel.
void mergeRows(const Graph& g, Schedule& s) {
  std::vector<FusedKernel> out;
  for (size_t i = 0; i < s.kernels.size();) {
    const FusedKernel& first = s.kernels[i];
    const Node& root = g[first.root];
    bool starts = first.kind == "reduction" && stageOf(g, first, Shape(g[root.inputs[0]].type.shape.begin(),
                                                                       g[root.inputs[0]].type.shape.end() - (g[root.inputs[0]].type.shape.empty() ? 0 : 1)),
                                                        g[root.inputs[0]].type.shape.empty() ? 1 : g[root.inputs[0]].type.shape.back(), false) == Stage::RowReduce;
    if (!starts) {
      out.push_back(first);
      ++i;
      continue;
    }
    const Shape& in = g[root.inputs[0]].type.shape;
    Shape R(in.begin(), in.end() - 1);
    int64_t N = in.back();
    std::vector<int32_t> inRun(size_t(g.size()), -1);
    FusedKernel rows{"rows", first.root, {}, {}, {}, R, N};
    bool afterTotal = false;
    size_t j = i;
    for (; j < s.kernels.size(); ++j) {
      const FusedKernel& k = s.kernels[j];
      Stage st = stageOf(g, k, R, N, afterTotal);
      if (st == Stage::None || !rowAligned(g, k, inRun, R, N)) break;
      afterTotal |= st == Stage::TotalReduce;
      rows.stages.push_back(k);
      rows.nodes.insert(rows.nodes.end(), k.nodes.begin(), k.nodes.end());
      rows.stores.insert(rows.stores.end(), k.stores.begin(), k.stores.end());
      for (NodeId n : k.nodes) inRun[size_t(n.v)] = int32_t(j);
    }
    if (rows.stages.size() < 2) {
      out.push_back(first);
      ++i;
      continue;
    }
    rows.root = rows.stages.back().root;
    std::sort(rows.nodes.begin(), rows.nodes.end());
    rows.nodes.erase(std::unique(rows.nodes.begin(), rows.nodes.end()), rows.nodes.end());
    out.push_back(rows);
    i = j;
  }
  s.kernels = out;
  std::erase_if(s.refusals, [&](const FusionRefusal& r) {  // edges between stages of one rows kernel are fused now
    for (const FusedKernel& k : s.kernels)
      if (k.kind == "rows" && std::find(k.nodes.begin(), k.nodes.end(), r.producer) != k.nodes.end() &&
          std::find(k.nodes.begin(), k.nodes.end(), r.consumer) != k.nodes.end())
        return true;
    return false;
  });
  std::fill(s.kernelOf.begin(), s.kernelOf.end(), -1);
  for (size_t k = 0; k < s.kernels.size(); ++k)
    for (NodeId st : s.kernels[k].stores) s.kernelOf[size_t(st.v)] = int32_t(k);
}

}  // namespace

Schedule fuse(const Graph& g) {
  Fuser f{g};
  f.formGroups();
  f.mergeEpilogues();
  Schedule s = f.finish();
  mergeRows(g, s);
  return s;
}

Schedule unfusedSchedule(const Graph& g) {
  Schedule s;
  s.kernelOf.assign(size_t(g.size()), -1);
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    if (isFree(n.op)) continue;
    s.kernelOf[size_t(i)] = int32_t(s.kernels.size());
    std::string kind = isElementwise(n.op) ? "elementwise" : isReduction(n.op) ? "reduction" : std::string(opName(n.op));
    s.kernels.push_back({kind, NodeId{i}, {NodeId{i}}, {NodeId{i}}});
  }
  return s;
}

std::string printSchedule(const Graph& g, const Schedule& s, bool explain) {
  std::string out = fmt::format("# {} kernels for {} nodes\n", s.kernels.size(), g.size());
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    const FusedKernel& kn = s.kernels[k];
    std::vector<std::string> members;
    for (NodeId n : kn.nodes) {
      bool stored = n != kn.root && std::find(kn.stores.begin(), kn.stores.end(), n) != kn.stores.end();
      members.push_back(fmt::format("%{} {}{}", n.v, opName(g[n].op), stored ? " (stored)" : ""));
    }
    out += fmt::format("kernel {} {} -> %{} {}: {}\n", k, kn.kind, kn.root.v, g[kn.root].type.str(), fmt::join(members, ", "));
    for (const FusedKernel& st : kn.stages) out += fmt::format("  stage {} -> %{} {}\n", st.kind, st.root.v, g[st.root].type.str());
  }
  if (explain) {
    out += fmt::format("# {} edges not fused\n", s.refusals.size());
    for (const FusionRefusal& r : s.refusals)
      out += fmt::format("refused %{} ({}) -> %{} ({}): {}\n", r.producer.v, opName(g[r.producer].op), r.consumer.v,
                         opName(g[r.consumer].op), r.reason);
  }
  return out;
}

std::string scheduleToJson(const Graph& g, const Schedule& s) {
  nlohmann::ordered_json j;
  j["kernels"] = s.kernels.size();
  j["nodes"] = g.size();
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const FusedKernel& k : s.kernels) {
    std::vector<int32_t> ids;
    for (NodeId n : k.nodes) ids.push_back(n.v);
    std::vector<int32_t> stores;
    for (NodeId n : k.stores) stores.push_back(n.v);
    list.push_back({{"kind", k.kind}, {"root", k.root.v}, {"nodes", ids}, {"stores", stores}});
  }
  j["kernel_list"] = list;
  nlohmann::ordered_json refusals = nlohmann::ordered_json::array();
  for (const FusionRefusal& r : s.refusals)
    refusals.push_back({{"producer", r.producer.v}, {"consumer", r.consumer.v}, {"reason", r.reason}});
  j["refusals"] = refusals;
  return j.dump(2) + "\n";
}

}  // namespace kiln
