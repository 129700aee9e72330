// The list of passes, one entry each, and typed access to their options.
#include "passes/PassRegistry.h"

#include <charconv>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "ir/Error.h"
#include "ir/Verifier.h"
#include "passes/Autodiff.h"
#include "passes/Simplify.h"

namespace kiln {

std::string PassOptions::text(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

double PassOptions::number(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !std::isfinite(v))
    throw Error(fmt::format("--{} expects a number, got '{}'", key, it->second));
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

const std::vector<PassInfo>& allPasses() {
  static const std::vector<PassInfo> passes = {
      {"verify", "check every graph invariant; the graph is unchanged", {},
       [](const Graph& g, const PassOptions&, std::string*) { verifyOrThrow(g); return g; }},
      {"autodiff", "append the backward graph of the loss: outputs grad/NAME per parameter", {"loss", "wrt"},
       [](const Graph& g, const PassOptions& o, std::string*) { return autodiff(g, {o.text("loss", "loss"), o.list("wrt")}); }},
      {"optimizer", "turn grad/NAME outputs into parameter updates that alias the parameters",
       {"optimizer", "lr", "momentum", "beta1", "beta2", "eps", "weight-decay", "clip-norm", "schedule",
        "warmup-steps", "total-steps", "min-lr"},
       [](const Graph& g, const PassOptions& o, std::string*) { return addOptimizer(g, optimizerOptionsFrom(o)); }},
      {"simplify", "constant folding, algebraic identities, movement chains, CSE, dead nodes", {},
       [](const Graph& g, const PassOptions&, std::string* report) {
         SimplifyStats stats;
         Graph out = simplify(g, &stats);
         if (report) *report = printSimplifyStats(stats);
         return out;
       }},
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

std::vector<std::string> allPassOptions() {
  std::set<std::string> all;
  for (const PassInfo& p : allPasses()) all.insert(p.options.begin(), p.options.end());
  return {all.begin(), all.end()};
}

}  // namespace kiln
