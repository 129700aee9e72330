// kiln dot: the DOT of a training program names every node once, styles forward, backward and optimizer
// nodes by what made them, and has only edges between declared nodes; --schedule draws one cluster per
// kernel of `kiln fuse`; --svg renders through Graphviz; bad input is a clear error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ir/Dot.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

/// The statements of DOT text as graphToDot writes them (one statement a line).
struct ParsedDot {
  std::map<std::string, std::string> attrs;    ///< declared node -> its attribute list
  std::map<std::string, int> declarations;     ///< declared node -> how often it is declared
  std::vector<std::pair<std::string, std::string>> edges;
  std::vector<std::string> edgeAttrs;
  std::vector<std::string> clusterLabels;
  std::vector<std::set<std::string>> clusters;  ///< the nodes declared in each cluster
};

ParsedDot parseDot(const std::string& text) {
  static const std::regex decl(R"(^\s*((?:n|out)\d+) \[(.*)\];$)"), edge(R"(^\s*(\w+) -> (\w+)(?: \[(.*)\])?;$)"),
      open(R"(^\s*subgraph cluster_(\d+) \{$)"), label(R"re(^\s*label="(.*)";$)re");
  ParsedDot d;
  std::istringstream in(text);
  std::string line;
  bool inCluster = false;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, open)) {
      CHECK(std::stoul(m[1]) == d.clusters.size());
      d.clusters.emplace_back();
      d.clusterLabels.emplace_back();
      inCluster = true;
    } else if (inCluster && std::regex_match(line, m, label)) {
      d.clusterLabels.back() = m[1];
    } else if (inCluster && line == "  }") {
      inCluster = false;
    } else if (std::regex_match(line, m, decl)) {
      d.attrs[m[1]] = m[2];
      d.declarations[m[1]]++;
      if (inCluster) d.clusters.back().insert(m[1]);
    } else if (std::regex_match(line, m, edge)) {
      d.edges.push_back({m[1], m[2]});
      d.edgeAttrs.push_back(m[3]);
    }
  }
  return d;
}

/// The value of attribute `key` in an attribute list (quotes dropped), or "" when absent.
std::string attr(const std::string& attrs, const std::string& key) {
  std::smatch m;
  if (std::regex_search(attrs, m, std::regex("(?:^|, )" + key + R"re(=(?:"([^"]*)"|(\w+)))re")))
    return m[1].matched ? m[1].str() : m[2].str();
  return "";
}

std::string node(NodeId id) { return "n" + std::to_string(id.v); }

/// A training program made through the CLI: the mlp, its backward pass, and with `optimizer` its updates.
std::string program(const std::string& passes, const std::string& flags = "") {
  test::CliResult fwd = test::runKiln("export mlp --batch 4");
  REQUIRE(fwd.status == 0);
  test::CliResult r = test::runKiln("dump - --passes=" + passes + " " + flags, fwd.out);
  REQUIRE(r.status == 0);
  return r.out;
}

/// Checks that `dot` declares every node of `g` once (and nothing else), and that every edge joins
/// declared nodes: one data edge per use, one origin edge per node with an origin, outputs as boxes.
void checkNodesAndEdges(const Graph& g, ParsedDot d) {
  CHECK(d.declarations.size() == size_t(g.size()) + g.outputs().size());
  for (int32_t i = 0; i < g.size(); ++i) CHECK(d.declarations[node(NodeId{i})] == 1);
  size_t uses = 0, origins = 0, aliases = 0;
  for (const Node& n : g.nodes()) uses += n.inputs.size(), origins += n.origin.valid();
  for (const Output& o : g.outputs()) aliases += o.aliases.valid();
  size_t data = 0, dashed = 0, alias = 0;
  for (size_t e = 0; e < d.edges.size(); ++e) {
    INFO("edge ", d.edges[e].first, " -> ", d.edges[e].second);
    CHECK(d.declarations.count(d.edges[e].first) == 1);
    CHECK(d.declarations.count(d.edges[e].second) == 1);
    std::string cls = attr(d.edgeAttrs[e], "class");
    (cls == "origin" ? dashed : cls == "aliases" ? alias : data)++;
  }
  CHECK(data == uses + g.outputs().size());
  CHECK(dashed == origins);
  CHECK(alias == aliases);
  for (size_t k = 0; k < g.outputs().size(); ++k) {
    const Output& o = g.outputs()[k];
    std::string box = "out" + std::to_string(k);
    CHECK(attr(d.attrs[box], "shape") == "box");
    CHECK(d.attrs[box].find(o.name) != std::string::npos);
    auto has = [&](const std::string& a, const std::string& b) {
      return std::find(d.edges.begin(), d.edges.end(), std::pair{a, b}) != d.edges.end();
    };
    CHECK(has(node(o.node), box));
    if (o.aliases.valid()) CHECK(has(box, node(o.aliases)));
  }
}

/// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { old ? setenv(name.c_str(), old->c_str(), 1) : unsetenv(name.c_str()); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

using test::runKiln;

TEST_CASE("kiln dot: every node once, roles by what made them, edges between declared nodes") {
  std::string backward = program("autodiff"), training = program("autodiff,optimizer", "--optimizer adam");
  Graph ad = test::kir(backward), tr = test::kir(training);
  ParsedDot adDot = parseDot(runKiln("dot -", backward).out), trDot = parseDot(runKiln("dot -", training).out);
  checkNodesAndEdges(ad, adDot);
  checkNodesAndEdges(tr, trDot);
  // The optimizer appends to the autodiff program: the first nodes are the same ones.
  REQUIRE(tr.size() > ad.size());
  std::map<std::string, int> counts;
  for (int32_t i = 0; i < tr.size(); ++i) {
    NodeId id{i};
    INFO("node %", i);
    std::string role = attr(trDot.attrs[node(id)], "class");
    counts[role]++;
    if (i < ad.size()) {
      CHECK(role == attr(adDot.attrs[node(id)], "class"));
      CHECK(role == (ad[id].origin.valid() ? "backward" : "forward"));
    } else {
      CHECK(role == "optimizer");
    }
    Op op = tr[id].op;
    std::string shape = attr(trDot.attrs[node(id)], "shape");
    CHECK(shape == (op == Op::Input       ? "invhouse"
                    : op == Op::Parameter ? "cylinder"
                    : op == Op::State     ? "box3d"
                    : op == Op::Constant  ? "ellipse"
                                          : "box"));
  }
  CHECK(counts["forward"] > 0);
  CHECK(counts["backward"] > 0);
  CHECK(counts["optimizer"] > 0);
  CHECK(counts.size() == 3);
  // The loss is forward, the gradients backward, the new parameters and the step counter optimizer nodes.
  CHECK(attr(trDot.attrs[node(*tr.findOutput("loss"))], "class") == "forward");
  CHECK(attr(adDot.attrs[node(*ad.findOutput("grad/fc1.weight"))], "class") == "backward");
  CHECK(attr(trDot.attrs[node(*tr.findOutput("fc1.weight"))], "class") == "optimizer");
  CHECK(attr(trDot.attrs[node(*tr.findLeaf("fc1.weight.exp_avg"))], "class") == "optimizer");
  CHECK(attr(trDot.attrs[node(*tr.findLeaf("optimizer.step"))], "class") == "optimizer");
  CHECK(attr(trDot.attrs[node(*tr.findLeaf("fc1.weight"))], "class") == "forward");
  // Labels: id, op, type.
  NodeId first = *tr.findOutput("loss");
  CHECK(attr(trDot.attrs[node(first)], "label") == "%" + std::to_string(first.v) + " " +
                                                       std::string(opName(tr[first].op)) + "\\n" + tr[first].type.str());
}

TEST_CASE("kiln dot --schedule: one cluster per kernel of kiln fuse, each scheduled node in exactly one") {
  std::string training = program("autodiff,optimizer", "--optimizer sgd-momentum");
  for (std::string flags : {"", " --no-simplify"}) {
    INFO("flags:", flags);
    nlohmann::json fused = nlohmann::json::parse(runKiln("fuse - --json" + flags, training).out);
    test::CliResult r = runKiln("dot - --schedule" + flags, training);
    REQUIRE(r.status == 0);
    ParsedDot d = parseDot(r.out);
    REQUIRE(d.clusters.size() == fused["kernels"].get<size_t>());
    size_t graphNodes = 0;
    for (const auto& [n, count] : d.declarations) graphNodes += n[0] == 'n';
    CHECK(graphNodes == fused["nodes"].get<size_t>());
    std::map<std::string, std::set<size_t>> listedIn;  // node -> the kernels that list it
    for (size_t k = 0; k < d.clusters.size(); ++k) {
      const nlohmann::json& kernel = fused["kernel_list"][k];
      CHECK(d.clusterLabels[k].rfind("kernel " + std::to_string(k) + ": " + kernel["kind"].get<std::string>(), 0) == 0);
      for (int32_t id : kernel["nodes"]) listedIn["n" + std::to_string(id)].insert(k);
    }
    std::map<std::string, int> clustersOf;
    for (size_t k = 0; k < d.clusters.size(); ++k)
      for (const std::string& n : d.clusters[k]) {
        clustersOf[n]++;
        CHECK(listedIn[n].count(k) == 1);  // drawn only in a kernel that has it
      }
    for (const auto& [n, kernels] : listedIn) {
      INFO("node ", n);
      CHECK(clustersOf[n] == 1);
    }
    CHECK(clustersOf.size() == listedIn.size());  // nodes in no kernel stay outside
    for (const auto& [n, count] : d.declarations) CHECK(count == 1);
  }
}

TEST_CASE("kiln dot escapes names for DOT") {
  CHECK(dotEscape("plain") == "plain");
  CHECK(dotEscape(R"(a"b\c)") == R"(a\"b\\c)");
  CHECK(dotEscape("two\nlines") == "two\\nlines");
  CHECK(dotEscape("tab\there") == "tab\\\\x09here");
  CHECK(dotEscape("caf\xc3\xa9") == "caf\xc3\xa9");  // UTF-8 stays
  CHECK(dotEscape("bad\xff") == "bad\\\\xff");        // a byte that is not UTF-8 is shown as \xff
  std::string kir = "kiln 1\ngraph \"g\\\"x\"\n%0 = input {name=\"a\\\"b\\\\c\\n\"} : f32[2]\n%1 = neg %0 : f32[2]\n"
                    "output \"y\\\"}\" = %1\n";
  test::CliResult r = runKiln("dot -", kir);
  REQUIRE(r.status == 0);
  CHECK(r.out.rfind("digraph \"g\\\"x\" {\n", 0) == 0);
  CHECK(r.out.find(R"(label="%0 input \"a\\\"b\\\\c\\n\"\nf32[2]")") != std::string::npos);
  CHECK(r.out.find(R"(label="output \"y\\\"}\"")") != std::string::npos);
  if (std::filesystem::exists("/usr/bin/dot")) {
    std::string dir = test::tempDir("dotescape");
    CHECK(runKiln("dot - --svg " + dir + "/g.svg", kir).status == 0);  // Graphviz parses it
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("kiln dot --svg renders through Graphviz, and says so when dot is missing or fails") {
  std::string dir = test::tempDir("dotsvg");
  std::string kir = "kiln 1\n%0 = input {name=\"x\"} : f32[2]\n%1 = neg %0 : f32[2]\noutput \"y\" = %1\n";
  std::ofstream(dir + "/g.kir") << kir;
  if (std::filesystem::exists("/usr/bin/dot")) {
    test::CliResult r = runKiln("dot " + dir + "/g.kir --schedule --svg " + dir + "/g.svg");
    CHECK(r.status == 0);
    CHECK(r.out.empty());
    std::string svg = slurp(dir + "/g.svg");
    CHECK((svg.rfind("<?xml", 0) == 0 || svg.rfind("<svg", 0) == 0));
    CHECK(svg.find("</svg>") != std::string::npos);
  } else {
    MESSAGE("skipping the SVG check: /usr/bin/dot is missing (apt-get install graphviz)");
  }
  std::ofstream(dir + "/old.svg") << "old";
  {
    ScopedEnv path("PATH", dir + "/nowhere");
    test::CliResult r = runKiln("dot " + dir + "/g.kir --svg " + dir + "/old.svg");
    CHECK(r.status == 1);
    CHECK(r.err.find("`dot` was not found") != std::string::npos);
    CHECK(r.err.find("graphviz") != std::string::npos);
  }
  std::filesystem::create_directory(dir + "/bin");
  std::ofstream(dir + "/bin/dot") << "#!/bin/sh\necho 'dot: broken' >&2\nexit 3\n";
  std::filesystem::permissions(dir + "/bin/dot", std::filesystem::perms::owner_all);
  {
    ScopedEnv path("PATH", dir + "/bin");
    test::CliResult r = runKiln("dot " + dir + "/g.kir --svg " + dir + "/old.svg");
    CHECK(r.status == 1);
    CHECK(r.err.find("failed with exit status 3") != std::string::npos);
  }
  CHECK(slurp(dir + "/old.svg") == "old");  // not replaced by a failed render
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln dot: bad input is a clear error") {
  test::CliResult help = runKiln("dot --help");
  CHECK(help.status == 0);
  CHECK(help.out.rfind("usage: kiln dot", 0) == 0);
  CHECK(runKiln("--help").out.find("  dot ") != std::string::npos);
  test::CliResult missing = runKiln("dot /nonexistent/g.kir");
  CHECK(missing.status == 1);
  CHECK(missing.err.find("/nonexistent/g.kir") != std::string::npos);
  test::CliResult flag = runKiln("dot - --bogus", "");
  CHECK(flag.status == 1);
  CHECK(flag.err.find("--bogus") != std::string::npos);
  test::CliResult noFile = runKiln("dot");
  CHECK(noFile.status == 1);
  CHECK(noFile.err.find("one FILE") != std::string::npos);
  test::CliResult lone = runKiln("dot - --no-simplify", "kiln 1\n");
  CHECK(lone.status == 1);
  CHECK(lone.err.find("--no-simplify goes with --schedule") != std::string::npos);
  test::CliResult bad = runKiln("dot -", "kiln 1\n%0 = neg %7 : f32[2]\n");
  CHECK(bad.status == 1);
  CHECK(bad.err.find("<stdin>:2") != std::string::npos);
  CHECK(bad.out.empty());
}

}  // namespace kiln
