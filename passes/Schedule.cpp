// Schedules: the kinds of kernels, queries the lowering and the planner share, the unfused schedule, and
// printing: the kernels fusion made, and every refusal with its reason, as text and JSON.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "passes/Fuse.h"

namespace kiln {

namespace {
bool hostsEpilogue(Op op) { return op == Op::Matmul || op == Op::Conv2d; }
bool isReduction(Op op) { return opInfo(op).cls == OpClass::Reduction; }
}  // namespace

KernelKind kernelKindOf(Op op) {
  if (isElementwise(op)) return KernelKind::Elementwise;
  if (isReduction(op)) return KernelKind::Reduction;
  if (op == Op::Matmul) return KernelKind::Matmul;
  if (op == Op::Conv2d) return KernelKind::Conv2d;
  return KernelKind::Single;
}

std::string kindName(const Graph& g, const FusedKernel& k) {
  switch (k.kind) {
    case KernelKind::Elementwise: return "elementwise";
    case KernelKind::Reduction: return "reduction";
    case KernelKind::Matmul: return "matmul";
    case KernelKind::Conv2d: return "conv2d";
    case KernelKind::Rows: return "rows";
    case KernelKind::Single: return std::string(opName(g[k.root].op));
  }
  KILN_ASSERT(false, "unknown kernel kind");
}

bool isExpressionMember(const Graph& g, const FusedKernel& k, NodeId m) {
  switch (k.kind) {
    case KernelKind::Elementwise:
    case KernelKind::Reduction:
    case KernelKind::Rows: return true;
    case KernelKind::Matmul:
    case KernelKind::Conv2d: return !hostsEpilogue(g[m].op);
    case KernelKind::Single: return false;
  }
  return false;
}

bool isSplatConstant(const Graph& g, NodeId c) {
  const Node& n = g[c];
  return n.op == Op::Constant && std::get<ConstAttrs>(n.attrs).values.size() == 1;
}

Schedule unfusedSchedule(const Graph& g) {
  Schedule s;
  s.kernelOf.assign(size_t(g.size()), -1);
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    if (isFree(n.op)) continue;
    s.kernelOf[size_t(i)] = int32_t(s.kernels.size());
    s.kernels.push_back({kernelKindOf(n.op), NodeId{i}, {NodeId{i}}, {NodeId{i}}, {}, {}, 1});
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
    out += fmt::format("kernel {} {} -> %{} {}: {}\n", k, kindName(g, kn), kn.root.v, g[kn.root].type.str(), fmt::join(members, ", "));
    for (const FusedKernel& st : kn.stages) out += fmt::format("  stage {} -> %{} {}\n", kindName(g, st), st.root.v, g[st.root].type.str());
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
    list.push_back({{"kind", kindName(g, k)}, {"root", k.root.v}, {"nodes", ids}, {"stores", stores}});
  }
  j["kernel_list"] = list;
  nlohmann::ordered_json refusals = nlohmann::ordered_json::array();
  for (const FusionRefusal& r : s.refusals)
    refusals.push_back({{"producer", r.producer.v}, {"consumer", r.consumer.v}, {"reason", r.reason}});
  j["refusals"] = refusals;
  return j.dump(2) + "\n";
}

}  // namespace kiln
