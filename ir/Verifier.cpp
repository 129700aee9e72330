// Graph invariants, re-checked from scratch: passes run it between stages (--verify-each).
#include "ir/Verifier.h"

#include <set>

#include <fmt/format.h>

#include "ir/Error.h"
#include "ir/Printer.h"
#include "ir/TypeInference.h"

namespace kiln {

namespace {

std::string checkNode(const Graph& g, int32_t i, std::set<std::string>& leafNames) {
  const Node& n = g.nodes()[size_t(i)];
  int arity = opInfo(n.op).arity;
  if ((arity >= 0 && int(n.inputs.size()) != arity) || (arity < 0 && n.inputs.empty()))
    return fmt::format("expects {} operand(s), has {}", arity < 0 ? "one or more" : std::to_string(arity), n.inputs.size());
  std::vector<Type> types;
  for (NodeId in : n.inputs) {
    if (in.v < 0 || in.v >= i) return fmt::format("operand %{} is not an earlier node", in.v);
    types.push_back(g.nodes()[size_t(in.v)].type);
  }
  if (n.attrs.index() != defaultAttrs(n.op).index()) return "attributes of the wrong kind";
  Inferred t = inferType(n.op, types, n.attrs, n.type);
  if (!t.ok()) return t.error;
  if (n.origin.valid() && n.origin.v >= i) return fmt::format("from %{} is not an earlier node", n.origin.v);
  if (!(t.type == n.type)) return fmt::format("type {} differs from the inferred type {}", n.type.str(), t.type.str());
  if (isNamedLeaf(n.op)) {
    const std::string& name = leafName(n);
    if (name.empty()) return "empty name";
    if (!leafNames.insert(name).second) return fmt::format("the name \"{}\" is used twice", name);
  }
  return "";
}

}  // namespace

std::vector<std::string> verify(const Graph& g) {
  std::vector<std::string> out;
  std::set<std::string> leafNames, outputNames;
  for (int32_t i = 0; i < g.size(); ++i) {
    std::string bad = checkNode(g, i, leafNames);
    if (!bad.empty()) out.push_back(fmt::format("%{} ({}): {}", i, opName(g.nodes()[size_t(i)].op), bad));
  }
  std::set<int32_t> aliased;
  for (const Output& o : g.outputs()) {
    if (o.node.v < 0 || o.node.v >= g.size()) {
      out.push_back(fmt::format("output \"{}\": %{} is not a node", o.name, o.node.v));
      continue;
    }
    if (!outputNames.insert(o.name).second) out.push_back(fmt::format("output \"{}\" is defined twice", o.name));
    if (!o.aliases.valid()) continue;
    std::string bad = checkAlias(g, o.node, o.aliases);
    if (!bad.empty()) out.push_back(fmt::format("output \"{}\": {}", o.name, bad));
    else if (!aliased.insert(o.aliases.v).second) out.push_back(fmt::format("output \"{}\": %{} is aliased twice", o.name, o.aliases.v));
  }
  return out;
}

std::string checkAlias(const Graph& g, NodeId node, NodeId leaf) {
  if (leaf.v < 0 || leaf.v >= g.size()) return fmt::format("aliased %{} is not a node", leaf.v);
  const Node& l = g[leaf];
  if (!isNamedLeaf(l.op)) return fmt::format("aliased %{} is a {}, not an input, parameter or state", leaf.v, opName(l.op));
  if (!(l.type == g[node].type))
    return fmt::format("aliased %{} has type {} but the output has {}", leaf.v, l.type.str(), g[node].type.str());
  return "";
}

void verifyOrThrow(const Graph& g, const std::string& file) {
  std::vector<std::string> problems = verify(g);
  if (problems.empty()) return;
  std::string msg = fmt::format("graph \"{}\" failed verification:", g.name());
  for (const std::string& p : problems) msg += "\n  " + p;
  throw Error(Location{file, 0, 0}, msg);
}

}  // namespace kiln
