// The pass registry: every pass by its kebab-case CLI name, one line each in passes/Passes.def.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ir/Graph.h"

namespace kiln {

/// A graph-to-graph pass as the CLI runs it.
struct PassInfo {
  std::string name;
  std::string summary;
  std::function<Graph(const Graph&)> run;
};

/// All registered passes.
const std::vector<PassInfo>& allPasses();
/// The pass called `name`; throws Error listing the known names.
const PassInfo& findPass(const std::string& name);

}  // namespace kiln
