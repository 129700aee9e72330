// The stages of the pipeline, one registry entry each (graph passes, fuse, plan-memory), the compile stage
// list, runPipeline, and typed access to the passes' options.
#include "passes/PassRegistry.h"

#include <chrono>
#include <charconv>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "ir/Error.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/Autodiff.h"
#include "passes/Simplify.h"
#include "passes/SplitReductions.h"

namespace kiln {

std::string PassOptions::text(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

double PassOptions::number(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  // Decimal only, the whole text: strtod also took hex ("0x10" was 16) and leading blanks.
  const std::string& s = it->second;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
    throw Error(fmt::format("--{} expects a decimal number, got '{}'", key, s));
  return v;
}

int64_t PassOptions::integer(const std::string& key, int64_t fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  int64_t v = 0;
  const std::string& s = it->second;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) throw Error(fmt::format("--{} expects an integer, got '{}'", key, s));
  return v;
}

std::vector<std::string> PassOptions::list(const std::string& key) const {
  std::vector<std::string> out;
  std::string s = text(key, ""), item;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == ',') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += s[i];
    }
  }
  return out;
}

OptimizerOptions optimizerOptionsFrom(const PassOptions& p) {
  OptimizerOptions o;
  o.kind = p.text("optimizer", o.kind);
  o.lr = p.number("lr", o.lr);
  o.momentum = p.number("momentum", o.momentum);
  o.beta1 = p.number("beta1", o.beta1);
  o.beta2 = p.number("beta2", o.beta2);
  o.eps = p.number("eps", o.eps);
  o.weightDecay = p.number("weight-decay", o.weightDecay);
  o.clipNorm = p.number("clip-norm", o.clipNorm);
  o.schedule = p.text("schedule", o.schedule);
  o.warmupSteps = p.integer("warmup-steps", o.warmupSteps);
  o.totalSteps = p.integer("total-steps", o.totalSteps);
  o.minLr = p.number("min-lr", o.minLr);
  return checkedOptimizerOptions(o, p.has("weight-decay"));
}

Graph PassInfo::operator()(const Graph& g, const PassOptions& o, std::string* report) const {
  KILN_ASSERT(kind == StageKind::GraphPass, "a pass that makes a schedule or plan run on a graph alone");
  PipelineState state{g, {}, {}};
  run(state, o, report);
  return std::move(state.graph);
}

namespace {

/// A registry entry for a Graph -> Graph pass.
PassInfo graphPass(std::string name, std::string summary, std::vector<std::string> options,
                   std::function<Graph(const Graph&, const PassOptions&, std::string*)> f) {
  return {std::move(name), std::move(summary), std::move(options), StageKind::GraphPass,
          [f](PipelineState& s, const PassOptions& o, std::string* report) {
            s.graph = f(s.graph, o, report);
            s.schedule.reset();
            s.plan.reset();
          }};
}

/// The schedule a plan stage needs, or an Error naming the stage.
const Schedule& scheduleFor(const PipelineState& s, const char* stage) {
  if (!s.schedule) throw Error(fmt::format("{} needs a schedule: run fuse (or unfused) before it", stage));
  return *s.schedule;
}

std::vector<PassInfo> makePasses() {
  return {
      graphPass("verify", "check every graph invariant; the graph is unchanged", {},
                [](const Graph& g, const PassOptions&, std::string*) { verifyOrThrow(g); return g; }),
      graphPass("autodiff", "append the backward graph of the loss: outputs grad/NAME per parameter", {"loss", "wrt"},
                [](const Graph& g, const PassOptions& o, std::string*) { return autodiff(g, {o.text("loss", "loss"), o.list("wrt")}); }),
      graphPass("optimizer", "turn grad/NAME outputs into parameter updates that alias the parameters",
                {"optimizer", "lr", "momentum", "beta1", "beta2", "eps", "weight-decay", "clip-norm", "schedule",
                 "warmup-steps", "total-steps", "min-lr"},
                [](const Graph& g, const PassOptions& o, std::string*) { return addOptimizer(g, optimizerOptionsFrom(o)); }),
      graphPass("simplify", "constant folding, algebraic identities, movement chains, CSE, dead nodes", {},
                [](const Graph& g, const PassOptions&, std::string* report) {
                  SimplifyStats stats;
                  Graph out = simplify(g, &stats);
                  if (report) *report = printSimplifyStats(stats);
                  return out;
                }),
      graphPass("split-reductions", "two-phase reductions: partials over runs of axis 0, then a combine in order", {},
                [](const Graph& g, const PassOptions&, std::string*) { return splitReductions(g); }),
      {"fuse", "group the nodes into kernels (a schedule), with the reason for every edge left between them", {},
       StageKind::Schedule, [](PipelineState& s, const PassOptions&, std::string*) { s.schedule = fuse(s.graph); s.plan.reset(); }},
      {"unfused", "one kernel per node that needs one (the schedule without fusion)", {}, StageKind::Schedule,
       [](PipelineState& s, const PassOptions&, std::string*) { s.schedule = unfusedSchedule(s.graph); s.plan.reset(); }},
      {"plan-memory", "one arena for the schedule: offsets by liveness, in-place reuse where legal", {}, StageKind::Plan,
       [](PipelineState& s, const PassOptions&, std::string*) { s.plan = planMemory(s.graph, scheduleFor(s, "plan-memory")); }},
      {"plan-no-reuse", "every value its own buffer (the plan without reuse)", {}, StageKind::Plan,
       [](PipelineState& s, const PassOptions&, std::string*) { s.plan = planWithoutReuse(s.graph, scheduleFor(s, "plan-no-reuse")); }},
  };
}

}  // namespace

const std::vector<PassInfo>& allPasses() {
  static const std::vector<PassInfo> passes = makePasses();
  return passes;
}

void runPipeline(PipelineState& state, const std::vector<std::string>& stages, const PassOptions& options,
                 const StageHook& after) {
  for (const std::string& name : stages) {
    const PassInfo& pass = findPass(name);
    std::string report;
    auto t0 = std::chrono::steady_clock::now();
    pass.run(state, options, after ? &report : nullptr);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (after) after(pass, state, ms, report);
  }
}

const std::vector<std::string>& compileStages(bool optimize) {
  static const std::vector<std::string> optimizing = {"simplify", "split-reductions", "fuse", "plan-memory"};
  static const std::vector<std::string> plain = {"unfused", "plan-no-reuse"};
  return optimize ? optimizing : plain;
}

std::vector<std::string> compileStagesThrough(const std::string& last, bool simplify) {
  std::vector<std::string> out;
  for (const std::string& s : compileStages(true)) {
    if (s != "simplify" || simplify) out.push_back(s);
    if (s == last) return out;
  }
  KILN_ASSERT(false, "not a compile stage: " + last);
}

std::string printStage(const PassInfo& pass, const PipelineState& s) {
  switch (pass.kind) {
    case StageKind::GraphPass: return printGraph(s.graph);
    case StageKind::Schedule: return printSchedule(s.graph, *s.schedule, true);
    case StageKind::Plan: return printPlan(s.graph, *s.plan);
  }
  return "";
}

void verifyStage(const PassInfo& pass, const PipelineState& s, const std::string& where) {
  std::string at = fmt::format("{} (after {})", where, pass.name);
  verifyOrThrow(s.graph, at);
  if (pass.kind != StageKind::Plan) return;
  std::vector<std::string> problems = verifyPlan(s.graph, *s.schedule, *s.plan);
  if (!problems.empty())
    throw Error(fmt::format("{}: the memory plan has {} conflict(s); the first: {}", at, problems.size(), problems[0]));
}

const PassInfo& findPass(const std::string& name) {
  std::string known;
  for (const PassInfo& p : allPasses()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw Error(fmt::format("unknown pass '{}'; known passes: {}", name, known));
}

std::vector<std::string> allPassOptions() {
  std::set<std::string> all;
  for (const PassInfo& p : allPasses()) all.insert(p.options.begin(), p.options.end());
  return {all.begin(), all.end()};
}

}  // namespace kiln
