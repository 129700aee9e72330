// SGD, momentum, Nesterov, Adam and AdamW, with global-norm clipping and a learning-rate schedule, written
// as graph ops with PyTorch's update formulas.
#include "passes/Optimizer.h"

#include <cmath>

#include <fmt/format.h>

#include "ir/Builder.h"
#include "ir/Error.h"
#include "passes/Autodiff.h"

namespace kiln {

OptimizerOptions checkedOptimizerOptions(OptimizerOptions o, bool weightDecayGiven) {
  const std::vector<std::string> kinds = {"sgd", "sgd-momentum", "sgd-nesterov", "adam", "adamw"};
  if (std::find(kinds.begin(), kinds.end(), o.kind) == kinds.end())
    throw Error(fmt::format("unknown optimizer '{}'; expected sgd, sgd-momentum, sgd-nesterov, adam or adamw", o.kind));
  if (o.kind == "adamw" && !weightDecayGiven) o.weightDecay = 0.01;
  auto positive = [](double v, const char* name) {
    if (!(v > 0) || !std::isfinite(v)) throw Error(fmt::format("--{} must be a positive number, got {}", name, v));
  };
  positive(o.lr, "lr");
  positive(o.eps, "eps");
  if (!(o.momentum >= 0 && o.momentum < 1)) throw Error(fmt::format("--momentum must be in [0, 1), got {}", o.momentum));
  if (!(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1))
    throw Error(fmt::format("--beta1 and --beta2 must be in [0, 1), got {} and {}", o.beta1, o.beta2));
  if (!(o.weightDecay >= 0) || !(o.clipNorm >= 0) || !(o.minLr >= 0))
    throw Error("--weight-decay, --clip-norm and --min-lr must not be negative");
  if (o.schedule != "constant" && o.schedule != "warmup-cosine")
    throw Error(fmt::format("unknown schedule '{}'; expected constant or warmup-cosine", o.schedule));
  if (o.schedule == "warmup-cosine" && (o.warmupSteps < 0 || o.totalSteps <= o.warmupSteps))
    throw Error(fmt::format("warmup-cosine needs 0 <= --warmup-steps < --total-steps, got {} and {}", o.warmupSteps, o.totalSteps));
  return o;
}

namespace {

/// The learning rate at step t (t as f32, 0-based), as graph ops.
Value scheduledLr(const OptimizerOptions& o, Value t) {
  Builder& b = t.builder();
  if (o.schedule == "constant") return b.scalar(o.lr);
  Value warm = (t + 1.0) * (o.lr / double(o.warmupSteps));
  Value progress = minimum(maximum((t - double(o.warmupSteps)) / double(o.totalSteps - o.warmupSteps), 0.0), 1.0);
  Value cosine = (cos(progress * M_PI) + 1.0) * (0.5 * (o.lr - o.minLr)) + o.minLr;
  return select(lt(t, double(o.warmupSteps)), warm, cosine);
}

/// Every gradient scaled by min(1, clip / (global norm + 1e-6)), as torch.nn.utils.clip_grad_norm_.
void clipGradients(std::vector<Value>& grads, double clip) {
  Value sq;
  for (Value g : grads) {
    std::vector<int64_t> all;
    for (int64_t i = 0; i < g.rank(); ++i) all.push_back(i);
    Value s = sum(g * g, all);
    if (sq.id().valid() && s.dtype() != sq.dtype()) s = cast(s, sq.dtype());  // f32 and f64 parameters mixed
    sq = sq.id().valid() ? sq + s : s;
  }
  Value coef = minimum(clip / (sqrt(sq) + 1e-6), 1.0);
  for (Value& g : grads) g = g * (coef.dtype() == g.dtype() ? coef : cast(coef, g.dtype()));
}

struct Updater {
  Builder& b;
  const OptimizerOptions& o;
  Value lr, bc1, bc2;  // bias corrections 1 - beta^t for Adam

  /// A state leaf named `name` shaped like `p`, and its updated value as an aliasing output.
  void keep(const std::string& name, Value leaf, Value next) { b.output(name, next, leaf.id()); }

  /// The f32 scalars (learning rate, bias corrections) in the dtype of parameter `p`.
  static Value like(Value s, Value p) { return s.dtype() == p.dtype() ? s : cast(s, p.dtype()); }

  Value update(const std::string& name, Value p, Value g) {
    Value lr = like(this->lr, p);
    if (o.kind != "adamw" && o.weightDecay != 0) g = g + p * o.weightDecay;
    if (o.kind == "sgd") return p - g * lr;
    if (o.kind == "sgd-momentum" || o.kind == "sgd-nesterov") {
      Value buf = b.state(name + ".momentum", p.type());
      Value next = buf * o.momentum + g;
      keep(name + ".momentum", buf, next);
      return p - (o.kind == "sgd-nesterov" ? g + next * o.momentum : next) * lr;
    }
    Value m = b.state(name + ".exp_avg", p.type()), v = b.state(name + ".exp_avg_sq", p.type());
    Value m2 = m * o.beta1 + g * (1 - o.beta1), v2 = v * o.beta2 + g * g * (1 - o.beta2);
    keep(name + ".exp_avg", m, m2);
    keep(name + ".exp_avg_sq", v, v2);
    if (o.kind == "adamw") p = p * (1.0 - lr * o.weightDecay);
    Value denom = sqrt(v2) / sqrt(like(bc2, p)) + o.eps;
    return p - m2 / denom * (lr / like(bc1, p));
  }
};

}  // namespace

Graph addOptimizer(const Graph& g, const OptimizerOptions& opts) {
  std::vector<std::pair<NodeId, Output>> params;  // parameter leaf, its gradient output
  for (const Output& out : g.outputs()) {
    if (out.name.rfind("grad/", 0) != 0) continue;
    auto leaf = g.findLeaf(out.name.substr(5));
    if (!leaf || g[*leaf].op != Op::Parameter)
      throw Error(fmt::format("optimizer: output \"{}\" is not the gradient of a parameter", out.name));
    params.push_back({*leaf, out});
  }
  if (params.empty()) throw Error("optimizer: the graph has no gradients (run autodiff first)");
  Builder b(g);
  b.removeOutputs([](const Output& o) { return o.name.rfind("grad/", 0) == 0; });
  Value step = b.state("optimizer.step", {DType::I32, {}});
  b.setOrigin(step.id());
  Value t = cast(step, DType::F32);
  Updater u{b, opts, scheduledLr(opts, t), {}, {}};
  if (opts.kind == "adam" || opts.kind == "adamw") {
    u.bc1 = 1.0 - pow(b.scalar(opts.beta1), t + 1.0);
    u.bc2 = 1.0 - pow(b.scalar(opts.beta2), t + 1.0);
  }
  b.output("lr", u.lr);
  std::vector<Value> grads;
  for (auto& [leaf, out] : params) grads.push_back(b.at(out.node));
  if (opts.clipNorm > 0) clipGradients(grads, opts.clipNorm);
  for (size_t i = 0; i < params.size(); ++i) {
    NodeId leaf = params[i].first;
    b.setOrigin(leaf);
    const std::string& name = leafName(g[leaf]);
    b.output(name, u.update(name, b.at(leaf), grads[i]), leaf);
  }
  // The counter advances last, after every read of its old value, so it too can update in place.
  b.setOrigin(step.id());
  b.output("optimizer.step", step + 1.0, step.id());
  return b.finish();
}

}  // namespace kiln
