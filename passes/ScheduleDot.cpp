// Graphviz DOT of a schedule: one cluster per kernel, each node in exactly one of them.
#include "passes/ScheduleDot.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/Dot.h"

namespace kiln {

namespace {

/// The members of `k` and of its stages, at any depth.
void collectMembers(const FusedKernel& k, std::vector<NodeId>& out) {
  out.insert(out.end(), k.nodes.begin(), k.nodes.end());
  for (const FusedKernel& st : k.stages) collectMembers(st, out);
}

/// "kernel N: KIND", and for a kernel with stages a second line naming their kinds in order.
std::string clusterLabel(const Graph& g, size_t index, const FusedKernel& k) {
  std::string label = fmt::format("kernel {}: {}", index, kindName(g, k));
  if (k.stages.empty()) return label;
  std::vector<std::string> kinds;
  for (const FusedKernel& st : k.stages) kinds.push_back(kindName(g, st));
  return label + fmt::format("\nstages: {}", fmt::join(kinds, ", "));
}

}  // namespace

std::string scheduleToDot(const Graph& g, const Schedule& s) {
  // The kernel each node is drawn in: the one that stores it, else the first that lists it.
  std::vector<int32_t> home(size_t(g.size()), -1);
  for (int32_t i = 0; i < g.size() && size_t(i) < s.kernelOf.size(); ++i) home[size_t(i)] = s.kernelOf[size_t(i)];
  std::vector<std::vector<NodeId>> members(s.kernels.size());
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    collectMembers(s.kernels[k], members[k]);
    for (NodeId id : members[k])
      if (id.valid() && id.v < g.size() && home[size_t(id.v)] < 0) home[size_t(id.v)] = int32_t(k);
  }
  std::vector<DotCluster> clusters;
  for (size_t k = 0; k < s.kernels.size(); ++k) {
    DotCluster c{clusterLabel(g, k, s.kernels[k]), {}};
    for (NodeId id : members[k])
      if (id.valid() && id.v < g.size() && home[size_t(id.v)] == int32_t(k)) c.nodes.push_back(id);
    clusters.push_back(std::move(c));
  }
  return graphToDot(g, clusters);
}

}  // namespace kiln
