// Whole programs through every engine, gradients against finite differences, and shrinking of failures.
#include "compiler/DiffTest.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "compiler/Interpreter.h"
#include "ir/Json.h"
#include "runtime/Safetensors.h"
#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "ir/Printer.h"
#include "passes/Autodiff.h"
#include "passes/Fuse.h"
#include "passes/Optimizer.h"
#include "passes/PlanMemory.h"
#include "passes/Simplify.h"
#include "runtime/Executable.h"

namespace kiln {

namespace {

/// Largest |got - want| over the largest |want| (at least `floor`); infinity for a shape mismatch or a NaN
/// in one only.
double scaledError(const HostTensor& got, const HostTensor& want, double floor = 1e-30) {
  if (got.data.size() != want.data.size() || isFloat(got.dtype) != isFloat(want.dtype)) return INFINITY;
  double scale = floor, worst = 0;
  for (double v : want.data) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < got.data.size(); ++i) {
    if (std::isnan(got.data[i]) != std::isnan(want.data[i])) return INFINITY;
    if (got.data[i] != want.data[i] && !std::isnan(want.data[i])) worst = std::max(worst, std::fabs(got.data[i] - want.data[i]));
  }
  return worst / scale;
}

/// The first element where two tensors differ, for messages.
std::string firstDifference(const HostTensor& got, const HostTensor& want) {
  if (got.data.size() != want.data.size()) return fmt::format("{} elements, expected {}", got.data.size(), want.data.size());
  size_t worst = 0;
  for (size_t i = 0; i < got.data.size(); ++i)
    if (std::fabs(got.data[i] - want.data[i]) > std::fabs(got.data[worst] - want.data[worst]) ||
        std::isnan(got.data[i]) != std::isnan(want.data[i]))
      worst = i;
  return got.data.empty() ? "empty" : fmt::format("element {}: {} instead of {}", worst, got.data[worst], want.data[worst]);
}

TensorMap runJit(const Graph& g, const TensorMap& feeds, CompileOptions opts, bool optimize) {
  opts.optimize = optimize;
  return runCompiled(g, feeds, opts);
}

struct Checker {
  const DiffOptions& opts;
  std::vector<DiffFailure> failures;
  double programScale = 0;  ///< the largest magnitude of any float value of the program (f64)

  /// The program's outputs in f64, and its scale from every value on the way.
  TensorMap reference(const Graph& program, const TensorMap& feeds) {
    std::vector<HostTensor> all = evaluateAll(program, feeds, Precision::F64);
    programScale = 0;
    for (const HostTensor& t : all)
      if (isFloat(t.dtype))
        for (double v : t.data) programScale = std::max(programScale, std::fabs(v));
    TensorMap out;
    for (const Output& o : program.outputs()) out[o.name] = all[size_t(o.node.v)];
    return out;
  }

  void fail(const std::string& check, const std::string& detail) { failures.push_back({check, detail}); }

  /// An engine's outputs against the f64 reference, allowing `floor` plus `factor` times the largest error
  /// of the `estimates` (the f32 interpreter, the perturbed program) against it. A tensor far smaller than the program's largest output (a gradient that cancels to zero) is compared
  /// at 1e-2 of that magnitude: its rounding noise comes from terms of the program's size, not its own.
  void compare(const std::string& check, const TensorMap& got, const TensorMap& ref64,
               const std::vector<const TensorMap*>& estimates, double floor, double factor) {
    double scaleFloor = std::max(1e-2 * programScale, 1e-30);
    for (const auto& [name, want] : ref64) {
      auto it = got.find(name);
      if (it == got.end()) {
        fail(check, fmt::format("output \"{}\" is missing", name));
        continue;
      }
      const HostTensor& v = it->second;
      if (!isFloat(want.dtype)) {
        if (v.data != want.data || v.shape != want.shape) fail(check, fmt::format("output \"{}\": {}", name, firstDifference(v, want)));
        continue;
      }
      double estimate = 0;
      for (const TensorMap* e : estimates) estimate = std::max(estimate, scaledError(e->at(name), want, scaleFloor));
      double allowed = floor + factor * estimate;
      double err = scaledError(v, want, scaleFloor);
      if (!(err <= allowed))
        fail(check, fmt::format("output \"{}\": scaled error {:.3g} (allowed {:.3g}); {}", name, err, allowed, firstDifference(v, want)));
    }
  }

  void passContracts(const Graph& program) {
    Graph once = simplify(program), twice = simplify(once);
    if (printGraph(once) != printGraph(twice)) fail("simplify-idempotent", "simplifying simplify's output changed it");
    Schedule s = fuse(once);
    for (const std::string& p : verifyPlan(once, s, planMemory(once, s))) fail("plan-verify", p);
  }

  void finiteDifferences(const Graph& forward, const TensorMap& feeds, const TensorMap& ref64);
};

/// d loss / d p[i] by central differences of the f64 interpreter, for a seeded sample of parameter
/// elements. Where the loss is not smooth within the step (a kink of abs, max or a cast), the one-sided
/// slopes differ and their difference bounds the error of the central one: the check allows it, and the
/// f64 rounding of a large loss divided by the step.
void Checker::finiteDifferences(const Graph& forward, const TensorMap& feeds, const TensorMap& ref64) {
  std::vector<std::pair<std::string, int64_t>> elements;
  for (NodeId p : forward.nodesWithOp(Op::Parameter))
    for (int64_t i = 0; i < forward[p].type.numel(); ++i) elements.push_back({leafName(forward[p]), i});
  Rng rng(elements.size() * 7919 + 1);
  for (size_t i = elements.size(); i > 1; --i) std::swap(elements[i - 1], elements[size_t(rng.next() % i)]);
  if (int64_t(elements.size()) > opts.fdElements) elements.resize(size_t(opts.fdElements));
  auto lossAt = [&](const std::string& name, int64_t i, double delta) {
    TensorMap f = feeds;
    f[name].data[size_t(i)] += delta;
    return evaluate(forward, f, Precision::F64).at("loss").data[0];
  };
  for (const auto& [name, i] : elements) {
    double x = feeds.at(name).data[size_t(i)], h = 1e-5 * std::max(1.0, std::fabs(x));
    double up, down, mid = ref64.at("loss").data[0];
    try {
      up = lossAt(name, i, h), down = lossAt(name, i, -h);
    } catch (const Error&) {
      continue;  // the step left an op's domain (a cast out of range): no comparison there
    }
    double fd = (up - down) / (2 * h), kink = std::fabs((up - mid) / h - (mid - down) / h);
    // f64 rounding of the loss itself, divided by the step: a loss of 1e9 leaves fd good to about 1e-2.
    double roundoff = 8 * 0x1p-52 * (std::fabs(up) + std::fabs(down)) / (2 * h);
    double ad = ref64.at(gradOutputName(name)).data[size_t(i)];
    if (std::fabs(ad - fd) > opts.fdTolerance * (1 + std::fabs(fd)) + kink + roundoff)
      fail("finite-differences", fmt::format("d loss / d {}[{}]: autodiff {:.9g}, central difference {:.9g}", name, i, ad, fd));
  }
}

/// How many f32 roundings an engine may commit on the way to one element of `n`: the terms a reduction,
/// contraction or window accumulates (in any order), else a few (FMA contraction, polynomial
/// transcendentals good to 3 ulp).
double roundingsOf(const Graph& g, const Node& n) {
  auto numelOf = [&](size_t i) { return double(g[n.inputs[i]].type.numel()); };
  double out = std::max<double>(1, double(n.type.numel()));
  switch (opInfo(n.op).cls) {
    case OpClass::Reduction: return std::max(1.0, numelOf(0) / out);
    case OpClass::Contraction:
      if (n.op == Op::Matmul) {
        const Shape& a = g[n.inputs[0]].type.shape;
        return double(a[a.size() - (std::get<MatmulAttrs>(n.attrs).transpose_a ? 2 : 1)]) + 4;
      }
      return numelOf(1) / std::max<double>(1, double(g[n.inputs[1]].type.shape[0])) + 4;
    case OpClass::Window: case OpClass::Index: return std::max(1.0, (numelOf(0) + numelOf(n.inputs.size() - 1)) / out) + 4;
    default: return 4;
  }
}

/// `g` with every float result multiplied by 1 + d, d a seeded random relative error of the size f32
/// arithmetic may commit there (roundingsOf times 2^-24). Evaluated in f64, its distance from the exact
/// result estimates how far an f32 engine may correctly land from it: a tolerance that follows each
/// program's conditioning (cancellation, long sums) instead of one number for all.
Graph perturbed(const Graph& g, uint64_t seed) {
  Rng rng(seed);
  Graph out(g.name());
  std::vector<NodeId> map(size_t(g.size()));
  for (int32_t i = 0; i < g.size(); ++i) {
    Node n = g.nodes()[size_t(i)];
    for (NodeId& in : n.inputs) in = map[size_t(in.v)];
    n.origin = NodeId{};
    double r = roundingsOf(g, g.nodes()[size_t(i)]) * 0x1p-24;
    NodeId id = out.add(n);
    if (isFloat(n.type.dtype) && !isNamedLeaf(n.op) && n.op != Op::Constant && n.type.numel() > 0) {
      std::vector<double> f(size_t(n.type.numel()));
      for (double& e : f) e = 1 + r * (2 * rng.uniform() - 1);
      NodeId c = out.add(Node{Op::Constant, n.type, {}, ConstAttrs{f}, {}, 0});
      id = out.add(Node{Op::Mul, n.type, {id, c}, NoAttrs{}, {}, 0});
    }
    map[size_t(i)] = id;
  }
  for (const Output& o : g.outputs()) out.addOutput(o.name, map[size_t(o.node.v)], o.aliases.valid() ? map[size_t(o.aliases.v)] : NodeId{});
  return out;
}

/// The feeds of a training program: the program's own and the initial state of its optimizer.
TensorMap withState(const Graph& program, TensorMap feeds) {
  for (auto& [name, v] : initParameters(program, 0))
    if (program[*program.findLeaf(name)].op == Op::State) feeds[name] = v;
  return feeds;
}

}  // namespace

TensorMap runExecutable(Executable& exe, const Graph& g, const TensorMap& feeds) {
  for (const auto& [name, v] : feeds)
    if (g.findLeaf(name)) exe.set(name, toStored(v));
  exe.run();
  TensorMap out;
  for (const Output& o : g.outputs()) out[o.name] = fromStored(exe.output(o.name), o.name);
  return out;
}

TensorMap runCompiled(const Graph& g, const TensorMap& feeds, const CompileOptions& opts) {
  std::unique_ptr<Executable> exe = compileGraph(g, opts);
  return runExecutable(*exe, g, feeds);
}

std::vector<DiffFailure> diffProgram(const Graph& forward, const TensorMap& feeds, const DiffOptions& opts, const TensorMap* torch) {
  Checker c{opts, {}};
  try {
    Graph program = autodiff(forward);
    TensorMap ref32 = evaluate(program, feeds), ref64 = c.reference(program, feeds);
    if (opts.interpreter) c.compare("interp-f32", ref32, ref64, {}, opts.f32Tolerance, 0);
    TensorMap noisy = evaluate(perturbed(program, 1), feeds, Precision::F64);
    if (opts.passes) c.passContracts(program);
    if (opts.jit) {  // fused, every kernel split as finely as it allows: at 1 thread, then the same bits at 3
      CompileOptions fine = opts.compile;
      fine.optimize = fine.finestChunks = true;
      std::unique_ptr<Executable> exe = compileGraph(program, fine);
      exe->setThreads(1);
      TensorMap one = runExecutable(*exe, program, feeds);
      c.compare("jit-fused", one, ref64, {&ref32, &noisy}, opts.jitFloor, opts.jitFactor);
      exe->setThreads(3);
      TensorMap three = runExecutable(*exe, program, feeds);
      for (const auto& [name, t] : one)
        if (three.at(name).data != t.data) c.fail("jit-threads", fmt::format("output \"{}\": {}", name, firstDifference(three.at(name), t)));
      if (opts.unfused)
        c.compare("jit-unfused", runJit(program, feeds, opts.compile, false), ref64, {&ref32, &noisy}, opts.jitFloor, opts.jitFactor);
    }
    if (opts.finiteDifferences) c.finiteDifferences(forward, feeds, ref64);
    if (torch) {
      TensorMap want;  // PyTorch also differentiates against inputs; kiln's program against parameters
      for (const auto& [name, v] : *torch)
        if (ref64.count(name)) want[name] = ref64.at(name);
      c.compare("torch", *torch, want, {}, opts.torchTolerance, 0);
    }
    if (!opts.optimizer.empty() && (opts.jit || opts.passes)) {
      OptimizerOptions o;
      o.kind = opts.optimizer;
      o.eps = opts.adamEps;
      Graph step = addOptimizer(program, o);
      TensorMap f = withState(step, feeds);
      TensorMap s32 = evaluate(step, f), s64 = c.reference(step, f);
      TensorMap sNoisy = evaluate(perturbed(step, 2), f, Precision::F64);
      if (opts.passes) c.passContracts(step);
      if (opts.jit) c.compare("jit-step", runJit(step, f, opts.compile, true), s64, {&s32, &sNoisy}, opts.jitFloor, opts.jitFactor);
    }
  } catch (const Error& e) {
    c.fail("error", e.what());
  }
  return c.failures;
}

namespace {

/// How a node of the graph being shrunk is rewritten.
struct Rewrite {
  enum Kind { Keep, ByOperand, ByLeaf } kind = Keep;
  NodeId operand;  ///< ByOperand: the node that takes its place
};

/// `g` with node `target` rewritten, outputs other than the loss dropped when `dropOutputs`, and nodes no
/// output needs removed; leaves keep their names, a node replaced by a leaf becomes an input (or a
/// parameter, when a parameter reached it) called "s<id>" fed with its value from `values`.
std::pair<Graph, TensorMap> rewrite(const Graph& g, const TensorMap& feeds, const std::vector<HostTensor>& values,
                                    NodeId target, Rewrite how, bool dropOutputs) {
  std::vector<bool> live(size_t(g.size()), false), needed(size_t(g.size()), false);
  for (int32_t i = 0; i < g.size(); ++i) {
    const Node& n = g.nodes()[size_t(i)];
    live[size_t(i)] = n.op == Op::Parameter;
    for (NodeId in : n.inputs) live[size_t(i)] = live[size_t(i)] || live[size_t(in.v)];
  }
  auto source = [&](NodeId n) { return n == target && how.kind == Rewrite::ByOperand ? how.operand : n; };
  for (const Output& o : g.outputs())
    if (!dropOutputs || o.name == "loss") needed[size_t(source(o.node).v)] = true;
  for (int32_t i = g.size() - 1; i >= 0; --i)
    if (needed[size_t(i)] && !(NodeId{i} == target && how.kind == Rewrite::ByLeaf))
      for (NodeId in : g.nodes()[size_t(i)].inputs) needed[size_t(source(in).v)] = true;
  Graph out(g.name());
  TensorMap f;
  std::vector<NodeId> map(size_t(g.size()));
  for (int32_t i = 0; i < g.size(); ++i) {
    if (!needed[size_t(i)]) continue;
    Node n = g.nodes()[size_t(i)];
    if (NodeId{i} == target && how.kind == Rewrite::ByLeaf) {
      std::string name = fmt::format("s{}", i);
      while (g.findLeaf(name)) name += "_";
      bool param = live[size_t(i)] && isFloat(n.type.dtype);
      n.op = param ? Op::Parameter : Op::Input;
      n.attrs = param ? Attrs(ParamAttrs{name, Init::Normal, 1.0}) : Attrs(InputAttrs{name});
      n.inputs.clear();
      f[name] = values[size_t(i)];
    } else {
      for (NodeId& in : n.inputs) in = map[size_t(source(in).v)];
      if (isNamedLeaf(n.op) && feeds.count(leafName(n))) f[leafName(n)] = feeds.at(leafName(n));
    }
    map[size_t(i)] = out.add(n);
  }
  for (const Output& o : g.outputs())
    if (!dropOutputs || o.name == "loss") out.addOutput(o.name, map[size_t(source(o.node).v)]);
  return {out, f};
}

}  // namespace

std::pair<Graph, TensorMap> shrinkProgram(const Graph& g0, const TensorMap& feeds0, const ShrinkPredicate& fails,
                                          size_t batch) {
  std::pair<Graph, TensorMap> cur{g0, feeds0};
  for (bool progress = true; progress;) {
    progress = false;
    // Every one-step reduction of the current program, the latest nodes first (they shrink it least).
    std::vector<HostTensor> values;
    try {
      values = evaluateAll(cur.first, cur.second);
    } catch (const Error&) {
      break;  // a program the interpreter refuses (it failed by erring) has no values to cut at
    }
    std::vector<std::pair<Graph, TensorMap>> candidates{rewrite(cur.first, cur.second, values, NodeId{}, {}, true)};
    for (int32_t i = cur.first.size() - 1; i >= 0; --i) {
      const Node& n = cur.first.nodes()[size_t(i)];
      if (isNamedLeaf(n.op)) continue;
      for (NodeId in : n.inputs)
        if (cur.first[in].type == n.type) candidates.push_back(rewrite(cur.first, cur.second, values, NodeId{i}, {Rewrite::ByOperand, in}, false));
      candidates.push_back(rewrite(cur.first, cur.second, values, NodeId{i}, {Rewrite::ByLeaf, {}}, false));
    }
    std::erase_if(candidates, [&](const auto& c) {
      return c.first.size() >= cur.first.size() && c.first.outputs().size() >= cur.first.outputs().size();
    });
    for (size_t at = 0; at < candidates.size() && !progress; at += batch) {
      std::vector<std::pair<Graph, TensorMap>> chunk(candidates.begin() + long(at),
                                                     candidates.begin() + long(std::min(candidates.size(), at + batch)));
      std::vector<bool> failing = fails(chunk);
      for (size_t k = 0; k < chunk.size() && !progress; ++k)
        if (failing[k]) cur = std::move(chunk[k]), progress = true;
    }
  }
  return cur;
}

std::string describeProgram(const Graph& g, const TensorMap& feeds) {
  std::string s = printGraph(g);
  for (const auto& [name, t] : feeds)
    s += fmt::format("# {}: {} = [{}]\n", name, t.type().str(), fmt::join(t.data, ", "));
  return s;
}

std::vector<TorchResult> torchResults(const std::vector<std::pair<Graph, TensorMap>>& programs, const std::string& dir,
                                      const std::string& python, const std::string& script) {
  namespace fs = std::filesystem;
  fs::remove_all(dir);
  for (size_t i = 0; i < programs.size(); ++i) {
    std::string d = fmt::format("{}/{:06}", dir, i);
    fs::create_directories(d);
    std::ofstream(d + "/graph.json") << graphToJson(programs[i].first);
    writeSafetensors(d + "/inputs.safetensors", toStored(programs[i].second));
  }
  std::string cmd = fmt::format("'{}' '{}' '{}' > '{}/log.txt' 2>&1", python, script, dir, dir);
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log(dir + "/log.txt");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    throw Error(fmt::format("the PyTorch oracle failed ({}):\n{}", cmd, text));
  }
  std::vector<TorchResult> out;
  for (size_t i = 0; i < programs.size(); ++i) {
    std::string d = fmt::format("{}/{:06}", dir, i);
    if (fs::exists(d + "/torch.safetensors")) {
      out.push_back({fromStored(readSafetensors(d + "/torch.safetensors")), ""});
    } else {
      std::ifstream err(d + "/error.txt");
      std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
      out.push_back({{}, text.empty() ? "no result" : text});
    }
  }
  fs::remove_all(dir);
  return out;
}

}  // namespace kiln
