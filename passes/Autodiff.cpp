// Reverse-mode differentiation as a graph transformation: one sweep over the nodes in reverse id order,
// summing each node's incoming gradients and applying its rule (passes/GradRules.cpp).
#include "passes/Autodiff.h"

#include <deque>

#include <fmt/format.h>

#include "ir/Builder.h"
#include "ir/Error.h"
#include "passes/GradRules.h"

namespace kiln {

std::string gradOutputName(const std::string& name) { return "grad/" + name; }

namespace {

std::string describe(const Graph& g, NodeId id) {
  const Node& n = g[id];
  if (isNamedLeaf(n.op)) return fmt::format("%{} ({} \"{}\")", id.v, opName(n.op), leafName(n));
  return fmt::format("%{} ({})", id.v, opName(n.op));
}

/// The error for a leaf that the loss reaches only through non-differentiable edges: a path from the loss,
/// and the first edge on it that stops the gradient.
Error unreachableError(const Graph& g, NodeId loss, NodeId leaf) {
  std::vector<int32_t> parent(size_t(g.size()), -1);  // toward the loss
  std::deque<NodeId> work{loss};
  parent[size_t(loss.v)] = loss.v;
  while (!work.empty() && parent[size_t(leaf.v)] < 0) {
    NodeId cur = work.front();
    work.pop_front();
    for (NodeId in : g[cur].inputs)
      if (parent[size_t(in.v)] < 0) parent[size_t(in.v)] = cur.v, work.push_back(in);
  }
  std::string path = describe(g, leaf), stop;
  for (NodeId cur = leaf; cur != loss;) {
    NodeId user{parent[size_t(cur.v)]};
    const Node& u = g[user];
    for (size_t i = 0; i < u.inputs.size() && stop.empty(); ++i)
      if (u.inputs[i] == cur) {
        std::string why = nonDifferentiableReason(g, user, i);
        if (!why.empty()) stop = fmt::format("{} is not differentiable here ({})", describe(g, user), why);
      }
    path = describe(g, user) + " <- " + path;
    cur = user;
  }
  return Error(fmt::format("autodiff: the loss depends on \"{}\" only through non-differentiable ops: {}; path from the loss: {}",
                           leafName(g[leaf]), stop, path));
}

std::vector<NodeId> wrtLeaves(const Graph& g, const AutodiffOptions& opts) {
  std::vector<NodeId> wrt;
  if (opts.wrt.empty()) return g.nodesWithOp(Op::Parameter);
  for (const std::string& name : opts.wrt) {
    auto id = g.findLeaf(name);
    if (!id) throw Error(fmt::format("autodiff: no input or parameter is called \"{}\"", name));
    if (!isFloat(g[*id].type.dtype))
      throw Error(fmt::format("autodiff: \"{}\" is {}; only f32 and f64 values have gradients", name, g[*id].type.str()));
    wrt.push_back(*id);
  }
  return wrt;
}

/// Marks the nodes from which the loss is reached, over every edge or over differentiable edges only.
std::vector<bool> reachesLoss(const Graph& g, NodeId loss, bool differentiableOnly) {
  std::vector<bool> reach(size_t(g.size()), false);
  reach[size_t(loss.v)] = true;
  for (int32_t i = loss.v; i >= 0; --i) {
    if (!reach[size_t(i)]) continue;
    const Node& n = g.nodes()[size_t(i)];
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (!differentiableOnly || nonDifferentiableReason(g, NodeId{i}, k).empty()) reach[size_t(n.inputs[k].v)] = true;
  }
  return reach;
}

}  // namespace

Graph autodiff(const Graph& g, const AutodiffOptions& opts) {
  auto lossId = g.findOutput(opts.loss);
  if (!lossId) throw Error(fmt::format("autodiff: the graph has no output \"{}\" to differentiate", opts.loss));
  NodeId loss = *lossId;
  if (!isFloat(g[loss].type.dtype) || g[loss].type.rank() != 0)
    throw Error(fmt::format("autodiff: the loss \"{}\" must be a float scalar, not {}", opts.loss, g[loss].type.str()));
  std::vector<NodeId> wrt = wrtLeaves(g, opts);
  std::vector<bool> any = reachesLoss(g, loss, false), diff = reachesLoss(g, loss, true);
  std::vector<bool> needs(size_t(g.size()), false);  // on a differentiable path from a wrt leaf to the loss
  for (NodeId w : wrt) {
    if (any[size_t(w.v)] && !diff[size_t(w.v)]) throw unreachableError(g, loss, w);
    needs[size_t(w.v)] = diff[size_t(w.v)];
  }
  for (int32_t i = 0; i <= loss.v; ++i) {
    const Node& n = g.nodes()[size_t(i)];
    for (size_t k = 0; k < n.inputs.size() && diff[size_t(i)]; ++k)
      if (needs[size_t(n.inputs[k].v)] && nonDifferentiableReason(g, NodeId{i}, k).empty()) needs[size_t(i)] = true;
  }

  Builder b(g);
  std::vector<std::vector<Value>> grads(size_t(g.size()));
  b.setOrigin(loss);
  grads[size_t(loss.v)].push_back(b.scalar(1.0, g[loss].type.dtype));
  for (int32_t i = loss.v; i >= 0; --i) {
    std::vector<Value>& in = grads[size_t(i)];
    if (!needs[size_t(i)] || in.empty() || isNamedLeaf(g.nodes()[size_t(i)].op)) continue;
    b.setOrigin(NodeId{i});
    Value gy = in[0];
    for (size_t k = 1; k < in.size(); ++k) gy = gy + in[k];
    const Node& n = g.nodes()[size_t(i)];
    std::vector<bool> wanted;
    for (size_t k = 0; k < n.inputs.size(); ++k)
      wanted.push_back(needs[size_t(n.inputs[k].v)] && nonDifferentiableReason(g, NodeId{i}, k).empty());
    std::vector<Value> contrib = gradientRule(b, NodeId{i}, gy, wanted);
    for (size_t k = 0; k < contrib.size(); ++k)
      if (contrib[k].id().valid() && needs[size_t(n.inputs[k].v)]) grads[size_t(n.inputs[k].v)].push_back(contrib[k]);
  }
  for (NodeId w : wrt) {
    b.setOrigin(w);
    std::vector<Value>& in = grads[size_t(w.v)];
    Value total = in.empty() ? b.constant({0.0}, g[w].type) : in[0];
    for (size_t k = 1; k < in.size(); ++k) total = total + in[k];
    b.output(gradOutputName(leafName(g[w])), total);
  }
  return b.finish();
}

}  // namespace kiln
