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
  if (!(t.type == n.type)) return fmt::format("type {} differs from the inferred type {}", n.type.str(), t.type.str());
  if (n.op == Op::Input || n.op == Op::Parameter) {
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
  for (const Output& o : g.outputs()) {
    if (o.node.v < 0 || o.node.v >= g.size()) out.push_back(fmt::format("output \"{}\": %{} is not a node", o.name, o.node.v));
    if (!outputNames.insert(o.name).second) out.push_back(fmt::format("output \"{}\" is defined twice", o.name));
  }
  return out;
}

void verifyOrThrow(const Graph& g, const std::string& file) {
  std::vector<std::string> problems = verify(g);
  if (problems.empty()) return;
  std::string msg = fmt::format("graph \"{}\" failed verification:", g.name());
  for (const std::string& p : problems) msg += "\n  " + p;
  throw Error(Location{file, 0, 0}, msg);
}

}  // namespace kiln
