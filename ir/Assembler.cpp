// Checking and renumbering nodes read from text or JSON.
#include "ir/Assembler.h"

#include <fmt/format.h>

#include "ir/TypeInference.h"
#include "ir/Verifier.h"

namespace kiln {

void Assembler::addNode(const NodeDraft& d) {
  if (ids_.count(d.id)) throw Error(d.where, fmt::format("node %{} is defined twice", d.id));
  Node n;
  n.op = d.op;
  n.srcLine = d.where.line;
  std::vector<Type> types;
  for (int64_t operand : d.operands) {
    auto it = ids_.find(operand);
    if (it == ids_.end())
      throw Error(d.where, fmt::format("{}: operand %{} is not defined above (operands must refer to earlier nodes)",
                                       opName(d.op), operand));
    n.inputs.push_back(it->second);
    types.push_back(g_.node(it->second).type);
  }
  if (isNamedLeaf(d.op)) {
    std::string name = d.op == Op::Input ? std::get<InputAttrs>(d.attrs).name : std::get<ParamAttrs>(d.attrs).name;
    if (name.empty()) throw Error(d.where, fmt::format("{}: the name must not be empty", opName(d.op)));
    if (g_.findLeaf(name)) throw Error(d.where, fmt::format("{}: the name \"{}\" is taken", opName(d.op), name));
  }
  Inferred t = inferType(d.op, types, d.attrs, d.written);
  if (!t.ok()) throw Error(d.where, t.error);
  if (!(t.type == d.written))
    throw Error(d.where, fmt::format("{}: written type {} differs from the inferred type {}", opName(d.op),
                                     d.written.str(), t.type.str()));
  n.type = t.type;
  n.attrs = d.attrs;
  if (d.origin) {
    auto it = ids_.find(*d.origin);
    if (it == ids_.end()) throw Error(d.where, fmt::format("{}: 'from %{}' names no node above", opName(d.op), *d.origin));
    n.origin = it->second;
  }
  ids_[d.id] = g_.add(std::move(n));
}

void Assembler::addOutput(const std::string& name, int64_t id, std::optional<int64_t> aliases, const Location& where) {
  auto it = ids_.find(id);
  if (it == ids_.end()) throw Error(where, fmt::format("output \"{}\": node %{} is not defined", name, id));
  if (g_.findOutput(name)) throw Error(where, fmt::format("output \"{}\" is defined twice", name));
  NodeId leaf;
  if (aliases) {
    auto a = ids_.find(*aliases);
    if (a == ids_.end()) throw Error(where, fmt::format("output \"{}\": aliased node %{} is not defined", name, *aliases));
    leaf = a->second;
    std::string bad = checkAlias(g_, it->second, leaf);
    if (!bad.empty()) throw Error(where, fmt::format("output \"{}\": {}", name, bad));
    for (const Output& o : g_.outputs())
      if (o.aliases == leaf) throw Error(where, fmt::format("output \"{}\": %{} is already aliased by output \"{}\"", name, *aliases, o.name));
  }
  g_.addOutput(name, it->second, leaf);
}

}  // namespace kiln
