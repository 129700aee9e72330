// The pass registry: every pass by its kebab-case CLI name, with the options it reads.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/Graph.h"
#include "passes/Optimizer.h"

namespace kiln {

/// Options for passes, as the CLI gives them (`--lr 0.01` becomes lr = "0.01"); typed on reading.
class PassOptions {
 public:
  void set(const std::string& key, const std::string& value) { values_[key] = value; }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  std::string text(const std::string& key, const std::string& fallback) const;
  /// The option as a number; Error naming --key when it is not one.
  double number(const std::string& key, double fallback) const;
  int64_t integer(const std::string& key, int64_t fallback) const;
  /// A comma-separated list; empty when absent.
  std::vector<std::string> list(const std::string& key) const;

 private:
  std::map<std::string, std::string> values_;
};

/// A graph-to-graph pass as the CLI runs it. `report`, when not null, receives what the pass has to say
/// about its work (simplify: how often each rule fired; printed by `kiln dump --stats`).
struct PassInfo {
  std::string name;
  std::string summary;
  std::vector<std::string> options;  ///< option names it reads (CLI flags without --)
  std::function<Graph(const Graph&, const PassOptions&, std::string* report)> run;
  Graph operator()(const Graph& g, const PassOptions& o, std::string* report = nullptr) const { return run(g, o, report); }
};

/// All registered passes.
const std::vector<PassInfo>& allPasses();
/// The pass called `name`; throws Error listing the known names.
const PassInfo& findPass(const std::string& name);
/// Every option name any pass reads (for the CLI's flag table).
std::vector<std::string> allPassOptions();
/// Optimizer options from pass options (optimizer, lr, momentum, ...), checked.
OptimizerOptions optimizerOptionsFrom(const PassOptions& o);

}  // namespace kiln
