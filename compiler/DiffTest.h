// Differential testing of whole programs: one program through every engine kiln has (the interpreter in
// f32 and f64, the JIT fused and unfused), its gradients against central finite differences in f64 and,
// when given, against PyTorch; the passes' own contracts on the way (simplify is idempotent, the memory
// plan passes its validator). A failing program shrinks to a minimal one that fails the same check.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "compiler/HostTensor.h"
#include "compiler/Pipeline.h"
#include "ir/Graph.h"

namespace kiln {

/// Which checks run, and their tolerances. Errors are "scaled": the largest difference over a tensor
/// divided by the largest magnitude of the reference tensor.
struct DiffOptions {
  bool interpreter = true;      ///< f32 interpreter against f64: scaled error at most f32Tolerance
  /// JIT fused and unfused against the f64 interpreter (see jitFloor); the fused program at 3 threads
  /// against 1, every kernel split finely
  bool jit = true;
  bool unfused = true;          ///< with jit: the unfused program too (one kernel per node)
  bool passes = true;           ///< simplify idempotent; memory plan of the fused program validates
  bool finiteDifferences = true;///< d loss / d parameter against central differences in f64
  std::string optimizer;        ///< when set (e.g. "sgd-momentum"): also the training step with this update
  /// Adam's epsilon in that step. Adam divides by sqrt(v) + eps, so with PyTorch's 1e-8 a gradient that is
  /// rounding noise (1e-7 where the exact value is 0) becomes a full step of lr in one engine and none in
  /// another; 1e-2 bounds that amplification while keeping every op of the update.
  double adamEps = 1e-2;
  int32_t fdElements = 12;      ///< parameter elements checked by finite differences (a seeded sample)
  double f32Tolerance = 1e-3;   ///< the f32 interpreter's allowed scaled error against f64
  /// A JIT result fails when its scaled error against f64 exceeds jitFloor + jitFactor times the larger of
  /// two estimates of what f32 arithmetic may cost at that output: the f32 interpreter's error, and that of
  /// the program evaluated in f64 with every result perturbed by the relative error f32 may commit there
  /// (a rounding per accumulated term). The JIT may round differently (FMA, sums in another order,
  /// polynomial transcendentals), never worse than that. Integer and bool results must be exact.
  double jitFloor = 2e-5, jitFactor = 10;
  double torchTolerance = 1e-6;  ///< PyTorch in f64 against the f64 interpreter, values and gradients
  /// |autodiff - fd| <= tol * (1 + |fd|) + the one-sided slopes' difference + the loss's f64 rounding / step
  double fdTolerance = 1e-4;
  /// How the JIT checks compile: without the object cache by default; `optimize` is set by each check
  /// (on for the fused program, off for the unfused one).
  CompileOptions compile{false, "", true};
};

/// One failed check: which ("jit-fused", "jit-threads" (3 threads against 1, bit for bit), "jit-unfused",
/// "interp-f32", "torch", "finite-differences", "simplify-idempotent", "plan-verify", "error") and what
/// differed.
struct DiffFailure {
  std::string check;   ///< the check's name, one of those above
  std::string detail;  ///< what differed: the output, the error against what was allowed, the first difference
};

/// Runs the checks on `forward` (a graph whose output "loss" is a float scalar) at `feeds`; `torch`, when
/// given, holds PyTorch's outputs and gradients ("grad/NAME") of the same program at the same point.
/// Every exception an engine throws is a failure of check "error". Empty when everything agrees.
std::vector<DiffFailure> diffProgram(const Graph& forward, const TensorMap& feeds, const DiffOptions& opts,
                                     const TensorMap* torch = nullptr);

/// `g` compiled with `opts` (fused unless `opts.optimize` is off), fed every leaf of `feeds` it has, run
/// once: its outputs by name.
TensorMap runCompiled(const Graph& g, const TensorMap& feeds, const CompileOptions& opts);
/// `exe` (compiled from `g`) fed every leaf of `feeds` it has and run once: its outputs by name.
TensorMap runExecutable(Executable& exe, const Graph& g, const TensorMap& feeds);

/// For each candidate program (and its feeds): whether it still fails.
using ShrinkPredicate = std::function<std::vector<bool>(const std::vector<std::pair<Graph, TensorMap>>&)>;

/// A smaller program (and its feeds) that still fails: greedily replaces a node by one of its operands of
/// the same type or by a new leaf holding the node's value, or drops the outputs other than the loss, and
/// removes dead nodes, until no such step keeps it failing. Candidates go to `fails` `batch` at a time (1 for
/// a predicate that compiles; many for one that starts a process per call), and the first failing one of a
/// batch is taken. A candidate the predicate throws on counts as not failing.
std::pair<Graph, TensorMap> shrinkProgram(const Graph& g, const TensorMap& feeds, const ShrinkPredicate& fails,
                                          size_t batch = 1);

/// The program as .kir text followed by its feeds as comment lines (`# x0: f32[2] = [0.5, -1]`).
std::string describeProgram(const Graph& g, const TensorMap& feeds);

/// PyTorch's outputs and gradients ("grad/NAME") of a program, or why it could not evaluate them.
struct TorchResult {
  TensorMap values;   ///< outputs and "grad/NAME" gradients by name; empty on error
  std::string error;  ///< empty when the values came back
};

/// PyTorch's results for each program, evaluated in one process of `python` running `script`
/// (tests/torch/eval_graph.py) over case folders written under `dir` (removed afterwards, but kept with the
/// script's log.txt when the script itself fails, which is an Error); a program it cannot evaluate gets its
/// error instead of values.
std::vector<TorchResult> torchResults(const std::vector<std::pair<Graph, TensorMap>>& programs, const std::string& dir,
                                      const std::string& python, const std::string& script);

}  // namespace kiln
