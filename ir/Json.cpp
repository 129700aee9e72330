// Writing and reading the JSON form of graphs with nlohmann/json.
#include "ir/Json.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ir/Assembler.h"
#include "ir/Parser.h"
#include "ir/Printer.h"

namespace kiln {

using Json = nlohmann::ordered_json;

namespace {

Json number(double v) {
  if (std::isfinite(v)) return v;
  return printNumber(v);
}

struct FieldWriter {
  Json& out;
  template <class T>
  void operator()(const char* key, const T& v) {
    if constexpr (std::is_same_v<T, double>) out[key] = number(v);
    else if constexpr (std::is_same_v<T, Init>) out[key] = std::string(initName(v));
    else if constexpr (std::is_same_v<T, Count>) {
      if (v.n != 1) out[key] = v.n;
    } else if constexpr (std::is_same_v<T, std::vector<double>>) {
      Json arr = Json::array();
      for (double d : v) arr.push_back(number(d));
      out[key] = arr;
    } else out[key] = v;
  }
};

/// Thrown inside the reader with the JSON path of the problem; turned into an Error at the top.
struct JsonProblem {
  std::string message;
};

double readNumber(const Json& j, const std::string& path) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
  }
  throw JsonProblem{fmt::format("{}: expected a number (or \"nan\", \"inf\", \"-inf\")", path)};
}

int64_t readInt(const Json& j, const std::string& path) {
  if (!j.is_number_integer()) throw JsonProblem{fmt::format("{}: expected an integer", path)};
  if (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    throw JsonProblem{fmt::format("{}: integer out of range", path)};
  return j.get<int64_t>();
}

const Json& member(const Json& obj, const char* key, const std::string& path) {
  if (!obj.is_object()) throw JsonProblem{fmt::format("{}: expected an object", path)};
  auto it = obj.find(key);
  if (it == obj.end()) throw JsonProblem{fmt::format("{}: missing key \"{}\"", path, key)};
  return *it;
}

std::string readString(const Json& j, const std::string& path) {
  if (!j.is_string()) throw JsonProblem{fmt::format("{}: expected a string", path)};
  return j.get<std::string>();
}

struct FieldReader {
  const Json& attrs;
  const std::string& path;
  int used = 0;
  template <class T>
  void operator()(const char* key, T& out) {
    std::string at = path + "." + key;
    auto it = attrs.find(key);
    if constexpr (std::is_same_v<T, bool>) {
      if (it == attrs.end()) return (void)(out = false);
      if (!it->is_boolean()) throw JsonProblem{at + ": expected true or false"};
      out = it->template get<bool>();
    } else if constexpr (std::is_same_v<T, Count>) {
      if (it == attrs.end()) return (void)(out = Count{});
      out = Count{readInt(*it, at)};
    } else {
      if (it == attrs.end()) throw JsonProblem{fmt::format("{}: missing attribute \"{}\"", path, key)};
      if constexpr (std::is_same_v<T, int64_t>) out = readInt(*it, at);
      else if constexpr (std::is_same_v<T, double>) out = readNumber(*it, at);
      else if constexpr (std::is_same_v<T, std::string>) out = readString(*it, at);
      else if constexpr (std::is_same_v<T, Init>) {
        auto i = parseInit(readString(*it, at));
        if (!i) throw JsonProblem{at + ": unknown initialiser"};
        out = *i;
      } else {
        if (!it->is_array()) throw JsonProblem{at + ": expected an array"};
        out.clear();
        for (size_t k = 0; k < it->size(); ++k) {
          std::string ek = fmt::format("{}[{}]", at, k);
          if constexpr (std::is_same_v<T, std::vector<int64_t>>) out.push_back(readInt((*it)[k], ek));
          else out.push_back(readNumber((*it)[k], ek));
        }
      }
    }
    used++;
  }
};

NodeDraft readNode(const Json& jn, const std::string& path, const std::string& file) {
  NodeDraft d;
  d.where = Location{file, 0, 0};
  d.id = readInt(member(jn, "id", path), path + ".id");
  std::string opName = readString(member(jn, "op", path), path + ".op");
  auto op = parseOp(opName);
  if (!op) throw JsonProblem{fmt::format("{}.op: unknown op '{}'", path, opName)};
  d.op = *op;
  auto dt = parseDType(readString(member(jn, "dtype", path), path + ".dtype"));
  if (!dt) throw JsonProblem{path + ".dtype: expected f32, f64, i32 or bool"};
  d.written.dtype = *dt;
  const Json& shape = member(jn, "shape", path);
  if (!shape.is_array() || shape.size() > size_t(kMaxRank))
    throw JsonProblem{fmt::format("{}.shape: expected an array of at most {} dimensions", path, kMaxRank)};
  for (size_t k = 0; k < shape.size(); ++k) d.written.shape.push_back(readInt(shape[k], fmt::format("{}.shape[{}]", path, k)));
  std::string bad = checkType(d.written);
  if (!bad.empty()) throw JsonProblem{path + ".shape: " + bad};
  const Json& ins = member(jn, "inputs", path);
  if (!ins.is_array()) throw JsonProblem{path + ".inputs: expected an array"};
  for (size_t k = 0; k < ins.size(); ++k) d.operands.push_back(readInt(ins[k], fmt::format("{}.inputs[{}]", path, k)));
  int arity = opInfo(d.op).arity;
  if (arity >= 0 && int(d.operands.size()) != arity)
    throw JsonProblem{fmt::format("{}: {} expects {} operand(s), got {}", path, opName, arity, d.operands.size())};
  if (jn.contains("from")) d.origin = readInt(jn["from"], path + ".from");
  d.attrs = defaultAttrs(d.op);
  Json noAttrs = Json::object();
  auto ait = jn.find("attrs");
  const Json& attrs = ait == jn.end() ? noAttrs : *ait;
  if (!attrs.is_object()) throw JsonProblem{path + ".attrs: expected an object"};
  std::string apath = path + ".attrs";
  int used = 0;
  std::visit([&](auto& a) {
    FieldReader r{attrs, apath};
    a.fields(r);
    used = r.used;
  }, d.attrs);
  if (int(attrs.size()) != used) {
    // Name the first key the attribute struct did not consume.
    Attrs probe = defaultAttrs(d.op);
    std::vector<std::string> known;
    std::visit([&](auto& a) { a.fields([&](const char* k, auto&) { known.push_back(k); }); }, probe);
    for (auto& [k, v] : attrs.items())
      if (std::find(known.begin(), known.end(), k) == known.end())
        throw JsonProblem{fmt::format("{}: {} has no attribute '{}'", apath, opName, k)};
  }
  return d;
}

}  // namespace

std::string graphToJson(const Graph& g) {
  // One node per line: readable and diffable, still plain JSON.
  std::string out = fmt::format("{{\n  \"format\": \"kiln-ir\",\n  \"version\": {},\n  \"graph\": {},\n  \"nodes\": [",
                                kIrVersion, Json(g.name()).dump());
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.node(NodeId{i});
    Json jn;
    jn["id"] = i;
    jn["op"] = std::string(opName(n.op));
    jn["dtype"] = std::string(dtypeName(n.type.dtype));
    jn["shape"] = n.type.shape;
    Json ins = Json::array();
    for (NodeId in : n.inputs) ins.push_back(in.v);
    jn["inputs"] = ins;
    Json attrs = Json::object();
    std::visit([&](const auto& a) { a.fields(FieldWriter{attrs}); }, n.attrs);
    if (!attrs.empty()) jn["attrs"] = attrs;
    if (n.origin.valid()) jn["from"] = n.origin.v;
    out += (i ? ",\n    " : "\n    ") + jn.dump();
  }
  out += g.size() ? "\n  ],\n  \"outputs\": [" : "],\n  \"outputs\": [";
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const Output& o = g.outputs()[i];
    Json jo{{"name", o.name}, {"node", o.node.v}};
    if (o.aliases.valid()) jo["aliases"] = o.aliases.v;
    out += (i ? ",\n    " : "\n    ") + jo.dump();
  }
  return out + (g.outputs().empty() ? "]\n}\n" : "\n  ]\n}\n");
}

namespace {

/// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
std::string withoutId(const nlohmann::json::exception& e) {
  std::string m = e.what();
  size_t end = m.rfind("] ", m.find(' '));
  return m.rfind("[json.exception", 0) == 0 && end != std::string::npos ? m.substr(end + 2) : m;
}

}  // namespace

Graph graphFromJson(std::string_view text, const std::string& file) {
  Json j;
  // A graph nests 5 levels deep ($.nodes[i].attrs.values[j]); bounding the depth keeps a hostile file from
  // exhausting the stack in the recursive copies and walks of a JSON value.
  constexpr int kMaxDepth = 32;
  auto bounded = [&](int depth, Json::parse_event_t, Json&) {
    if (depth > kMaxDepth) throw Error(Location{file, 0, 0}, fmt::format("malformed JSON: nested deeper than {} levels", kMaxDepth));
    return true;
  };
  try {
    j = Json::parse(text, bounded);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(Location{file, 0, 0}, fmt::format("malformed JSON at byte {}: {}", e.byte, withoutId(e)));
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range.406: a number too large for a double
    throw Error(Location{file, 0, 0}, fmt::format("malformed JSON: {}", withoutId(e)));
  }
  try {
    if (!j.is_object()) throw JsonProblem{"$: expected an object"};
    if (readString(member(j, "format", "$"), "$.format") != "kiln-ir") throw JsonProblem{"$.format: expected \"kiln-ir\""};
    int64_t ver = readInt(member(j, "version", "$"), "$.version");
    if (ver != kIrVersion)
      throw JsonProblem{fmt::format("$.version: unsupported format version {}; this kiln reads version {}", ver, kIrVersion)};
    Assembler as(j.contains("graph") ? readString(j["graph"], "$.graph") : "main");
    const Json& nodes = member(j, "nodes", "$");
    if (!nodes.is_array()) throw JsonProblem{"$.nodes: expected an array"};
    for (size_t i = 0; i < nodes.size(); ++i) {
      std::string path = fmt::format("$.nodes[{}]", i);
      NodeDraft d = readNode(nodes[i], path, file);
      try {
        as.addNode(d);
      } catch (const Error& e) {
        throw JsonProblem{path + ": " + e.message()};
      }
    }
    const Json& outs = member(j, "outputs", "$");
    if (!outs.is_array()) throw JsonProblem{"$.outputs: expected an array"};
    for (size_t i = 0; i < outs.size(); ++i) {
      std::string path = fmt::format("$.outputs[{}]", i);
      try {
        std::optional<int64_t> aliases;
        if (outs[i].is_object() && outs[i].contains("aliases")) aliases = readInt(outs[i]["aliases"], path + ".aliases");
        as.addOutput(readString(member(outs[i], "name", path), path + ".name"),
                     readInt(member(outs[i], "node", path), path + ".node"), aliases, Location{});
      } catch (const Error& e) {
        throw JsonProblem{path + ": " + e.message()};
      }
    }
    return as.finish();
  } catch (const JsonProblem& p) {
    throw Error(Location{file, 0, 0}, p.message);
  } catch (const nlohmann::json::exception& e) {
    throw Error(Location{file, 0, 0}, fmt::format("malformed JSON: {}", e.what()));
  }
}

}  // namespace kiln
