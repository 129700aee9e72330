// The list of passes. Only "verify" exists so far; autodiff, optimizer, simplify, fuse and plan-memory
// join it as their issues land.
#include "passes/PassRegistry.h"

#include <fmt/format.h>

#include "ir/Error.h"
#include "ir/Verifier.h"

namespace kiln {

const std::vector<PassInfo>& allPasses() {
  static const std::vector<PassInfo> passes = {
      {"verify", "check every graph invariant; the graph is unchanged",
       [](const Graph& g) { verifyOrThrow(g); return g; }},
  };
  return passes;
}

const PassInfo& findPass(const std::string& name) {
  std::string known;
  for (const PassInfo& p : allPasses()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw Error(fmt::format("unknown pass '{}'; known passes: {}", name, known));
}

}  // namespace kiln
