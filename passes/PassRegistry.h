// The pass registry: every pass by its kebab-case CLI name, with the options it reads, and the pipeline:
// the one list of stages the compiler, the CLI, the golden tests and the benches run.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/Graph.h"
#include "passes/Fuse.h"
#include "passes/Optimizer.h"
#include "passes/PlanMemory.h"

namespace kiln {

/// Options for passes, as the CLI gives them (`--lr 0.01` becomes lr = "0.01"); typed on reading.
class PassOptions {
 public:
  /// Sets option `key` (the flag without --, e.g. "weight-decay"), replacing an earlier value.
  void set(const std::string& key, const std::string& value) { values_[key] = value; }
  /// Whether `key` was given.
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  /// The option as given, or `fallback` when absent.
  std::string text(const std::string& key, const std::string& fallback) const;
  /// The option as a number; Error naming --key when it is not one.
  double number(const std::string& key, double fallback) const;
  /// The option as a whole number; Error naming --key when it is not one.
  int64_t integer(const std::string& key, int64_t fallback) const;
  /// A comma-separated list, empty items dropped; empty when absent.
  std::vector<std::string> list(const std::string& key) const;

 private:
  std::map<std::string, std::string> values_;
};

/// What the stages of a pipeline hand on: the graph and, once fuse and plan-memory have run, its schedule
/// and memory plan. A stage that changes the graph drops the schedule and plan made for the old one.
struct PipelineState {
  Graph graph;                       ///< the program as the last graph pass left it
  std::optional<Schedule> schedule;  ///< set by fuse
  std::optional<MemoryPlan> plan;    ///< set by plan-memory, for `schedule`
};

/// What a stage produces, which decides how it is printed and checked.
enum class StageKind : uint8_t {
  GraphPass,  ///< Graph -> Graph
  Schedule,   ///< Graph -> Schedule (the kernels)
  Plan,       ///< Graph and Schedule -> MemoryPlan (the arena)
};

/// A stage of the pipeline. `report`, when not null, receives what the pass has to say about its work
/// (simplify: how often each rule fired; printed by `kiln dump --stats`).
struct PassInfo {
  std::string name;                  ///< kebab-case, as the CLI and the stage lists name it
  std::string summary;               ///< one line, for `kiln passes`
  std::vector<std::string> options;  ///< option names it reads (CLI flags without --)
  StageKind kind = StageKind::GraphPass;  ///< what it produces
  /// Runs the stage on `state`, in place.
  std::function<void(PipelineState&, const PassOptions&, std::string* report)> run;
  /// Runs a graph pass on `g` alone.
  Graph operator()(const Graph& g, const PassOptions& o, std::string* report = nullptr) const;
};

/// Called after each stage of runPipeline with the state it left, its time and its report.
using StageHook = std::function<void(const PassInfo&, const PipelineState&, double ms, const std::string& report)>;

/// Runs `stages` (registered names) on `state` in order, timing each and calling `after` (if set) after
/// each one. Error when a name is unknown or a stage lacks what it needs (plan-memory without fuse).
void runPipeline(PipelineState& state, const std::vector<std::string>& stages, const PassOptions& options = {},
                 const StageHook& after = nullptr);

/// The stages compileGraph runs on a graph that verifies, before lowering to LLVM, in order: simplify,
/// split-reductions, fuse, plan-memory; without `optimize`: one kernel per node (unfused), every value its own buffer.
const std::vector<std::string>& compileStages(bool optimize = true);
/// The optimising compile stages up to and including `last`, without simplify when `simplify` is false
/// (what `kiln fuse` and `kiln plan` run).
std::vector<std::string> compileStagesThrough(const std::string& last, bool simplify = true);
/// The text `--print-after-all` shows after a stage: the graph, the schedule (with refusals) or the plan.
std::string printStage(const PassInfo& pass, const PipelineState& state);
/// What `--verify-each` checks after a stage: the graph verifies, and after plan-memory the plan passes
/// the independent validator (verifyPlan). Throws Error naming `where` and the stage.
void verifyStage(const PassInfo& pass, const PipelineState& state, const std::string& where);

/// All registered passes.
const std::vector<PassInfo>& allPasses();
/// The pass called `name`; throws Error listing the known names.
const PassInfo& findPass(const std::string& name);
/// Every option name any pass reads (for the CLI's flag table).
std::vector<std::string> allPassOptions();
/// Optimizer options from pass options (optimizer, lr, momentum, ...), checked.
OptimizerOptions optimizerOptionsFrom(const PassOptions& o);

}  // namespace kiln
