// Golden IR tests: every tests/golden/<dir>/<file>.kir holds cases, each IR in and the expected text out
// (or the expected error). Format:
//   #! RUN: verify,other-pass --key=value   passes to run after parsing (or "none") and their options;
//                                          --print=schedule or --print=plan prints fuse's schedule with
//                                          its refusals, or the memory plan, instead of the graph
//   #! CASE: name                  starts a case; the lines up to EXPECT are its input
//   #! EXPECT:                     the lines after it, up to the next CASE, are the expected output
//   #! EXPECT-ERROR: message       instead: the expected error, exactly, with the case named as the file
// KILN_UPDATE_GOLDEN=1 rewrites every EXPECT section with what kiln now prints; review the diff.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir/Error.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Fuse.h"
#include "passes/PassRegistry.h"
#include "passes/PlanMemory.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

struct GoldenCase {
  std::string name, input, expected;
  bool expectError = false;
};

struct GoldenFile {
  std::vector<std::string> passes;
  PassOptions options;
  std::vector<GoldenCase> cases;
};

bool startsWith(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

GoldenFile readGolden(const std::string& path) {
  std::ifstream in(path);
  GoldenFile f;
  std::string line;
  enum { None, Input, Expect } state = None;
  while (std::getline(in, line)) {
    if (startsWith(line, "#! RUN:")) {
      std::stringstream words(line.substr(7));
      std::string word, passList;
      words >> passList;
      while (words >> word) {  // --key=value options for the passes
        size_t eq = word.find('=');
        if (startsWith(word, "--") && eq != std::string::npos) f.options.set(word.substr(2, eq - 2), word.substr(eq + 1));
      }
      std::stringstream ss(passList);
      std::string item;
      while (std::getline(ss, item, ',')) {
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (!item.empty() && item != "none") f.passes.push_back(item);
      }
    } else if (startsWith(line, "#! CASE:")) {
      f.cases.push_back({line.substr(9), "", "", false});
      state = Input;
    } else if (startsWith(line, "#! EXPECT-ERROR:")) {
      f.cases.back().expected = line.substr(17);
      f.cases.back().expectError = true;
      state = None;
    } else if (startsWith(line, "#! EXPECT:")) {
      state = Expect;
    } else if (state == Input) {
      f.cases.back().input += line + "\n";
    } else if (state == Expect) {
      f.cases.back().expected += line + "\n";
    }
  }
  return f;
}

/// What kiln makes of one case: the printed graph, or the error text.
std::string runCase(const GoldenFile& f, const GoldenCase& c, bool& failed) {
  try {
    PipelineState s{parseGraph(c.input, c.name), {}, {}};
    verifyOrThrow(s.graph, c.name);
    runPipeline(s, f.passes, f.options,
                [&](const PassInfo& pass, const PipelineState& st, double, const std::string&) { verifyStage(pass, st, c.name); });
    failed = false;
    std::string print = f.options.text("print", "graph");
    // The compile stages after the listed passes (which simplify when the RUN line says so).
    if (print == "schedule") runPipeline(s, compileStagesThrough("fuse", false));
    if (print == "plan") runPipeline(s, compileStagesThrough("plan-memory", false));
    if (print == "schedule") return printSchedule(s.graph, *s.schedule, true);
    if (print == "plan") return printPlan(s.graph, *s.plan);
    return printGraph(s.graph);
  } catch (const Error& e) {
    failed = true;
    return e.what();
  }
}

void writeGolden(const std::string& path, const GoldenFile& f, const std::vector<std::string>& actual,
                 const std::vector<bool>& failed) {
  std::ifstream in(path);
  std::string line, header;
  while (std::getline(in, line) && !startsWith(line, "#! CASE:")) header += line + "\n";
  std::string out = header;
  for (size_t i = 0; i < f.cases.size(); ++i) {
    out += "#! CASE: " + f.cases[i].name + "\n" + f.cases[i].input;
    if (failed[i]) out += "#! EXPECT-ERROR: " + actual[i] + "\n";
    else out += "#! EXPECT:\n" + actual[i];
  }
  std::ofstream(path) << out;
}

}  // namespace

TEST_CASE("golden IR tests") {
  namespace fs = std::filesystem;
  bool update = std::getenv("KILN_UPDATE_GOLDEN") != nullptr;
  int files = 0, cases = 0;
  for (const auto& entry : fs::recursive_directory_iterator(test::sourcePath("tests/golden"))) {
    if (entry.path().extension() != ".kir") continue;
    files++;
    GoldenFile f = readGolden(entry.path().string());
    std::vector<std::string> actual;
    std::vector<bool> failed;
    for (const GoldenCase& c : f.cases) {
      bool bad = false;
      actual.push_back(runCase(f, c, bad));
      failed.push_back(bad);
      cases++;
      if (update) continue;
      INFO("golden file ", entry.path().string(), ", case ", c.name);
      CHECK(bad == c.expectError);
      CHECK(actual.back() == c.expected);
    }
    if (update) writeGolden(entry.path().string(), f, actual, failed);
  }
  CHECK(files > 0);
  CHECK(cases > 0);
}

}  // namespace kiln
