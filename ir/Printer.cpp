// Printing graphs as canonical .kir text.
#include "ir/Printer.h"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln {

std::string printNumber(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += {'\\', char(c)};
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += char(c);
  }
  return out + "\"";
}

namespace {

struct FieldPrinter {
  std::vector<std::string>& parts;
  void operator()(const char* key, int64_t v) { parts.push_back(fmt::format("{}={}", key, v)); }
  void operator()(const char* key, bool v) {
    if (v) parts.push_back(key);  // flags: present when true, absent when false
  }
  void operator()(const char* key, double v) { parts.push_back(fmt::format("{}={}", key, printNumber(v))); }
  void operator()(const char* key, const std::string& v) { parts.push_back(fmt::format("{}={}", key, quote(v))); }
  void operator()(const char* key, Init v) { parts.push_back(fmt::format("{}={}", key, initName(v))); }
  void operator()(const char* key, Count v) {
    if (v.n != 1) parts.push_back(fmt::format("{}={}", key, v.n));
  }
  void operator()(const char* key, const std::vector<int64_t>& v) {
    parts.push_back(fmt::format("{}=[{}]", key, fmt::join(v, ",")));
  }
  void operator()(const char* key, const std::vector<double>& v) {
    std::vector<std::string> s;
    for (double d : v) s.push_back(printNumber(d));
    parts.push_back(fmt::format("{}=[{}]", key, fmt::join(s, ",")));
  }
};

}  // namespace

std::string printAttrs(const Attrs& attrs) {
  std::vector<std::string> parts;
  std::visit([&](const auto& a) { a.fields(FieldPrinter{parts}); }, attrs);
  if (parts.empty()) return "";
  return fmt::format("{{{}}}", fmt::join(parts, ", "));
}

std::string printNode(const Graph& g, NodeId id) {
  const Node& n = g.node(id);
  std::string s = fmt::format("%{} = {}", id.v, opName(n.op));
  for (size_t i = 0; i < n.inputs.size(); ++i) s += fmt::format("{}%{}", i ? ", " : " ", n.inputs[i].v);
  std::string attrs = printAttrs(n.attrs);
  if (!attrs.empty()) s += " " + attrs;
  s += " : " + n.type.str();
  if (n.origin.valid()) s += fmt::format(" from %{}", n.origin.v);
  return s;
}

std::string printSavedForBackward(const Graph& g) {
  std::vector<NodeId> saved = savedForBackward(g);
  if (saved.empty()) return "";
  int64_t total = 0;
  std::string rows;
  for (NodeId id : saved) {
    total += g[id].type.bytes();
    rows += fmt::format("#   %{} {} {} bytes\n", id.v, g[id].type.str(), g[id].type.bytes());
  }
  return fmt::format("# saved for backward: {} activation{}, {} bytes\n", saved.size(), saved.size() == 1 ? "" : "s", total) +
         rows;
}

std::string printGraph(const Graph& g) {
  std::string s = fmt::format("kiln {}\ngraph {}\n", kIrVersion, quote(g.name()));
  for (int32_t i = 0; i < g.size(); ++i) s += printNode(g, NodeId{i}) + "\n";
  for (const Output& o : g.outputs()) {
    s += fmt::format("output {} = %{}", quote(o.name), o.node.v);
    s += o.aliases.valid() ? fmt::format(" aliases %{}\n", o.aliases.v) : "\n";
  }
  return s + printSavedForBackward(g);
}

}  // namespace kiln
