// A user's own model, built against an installed kiln (see README.md beside this file): a small MLP that
// learns which quadrants of the plane are class 1 (x * y > 0, an XOR no linear model can fit). It is
// written in the DSL, turned into a training program (autodiff, then Adam), compiled with the JIT and
// trained on synthetic points drawn with a fixed seed. Exits 0 only when the loss fell to under half.
#include <cstdio>
#include <memory>
#include <numeric>
#include <vector>

#include "compiler/HostTensor.h"
#include "compiler/ParamInit.h"
#include "compiler/Pipeline.h"
#include "ir/Builder.h"
#include "models/Layers.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"

namespace {

constexpr int64_t kBatch = 128, kHidden = 32, kSteps = 300, kWindow = 20;

/// The model: logits = fc2(relu(fc1(x))) over points x [B, 2], with a cross-entropy loss on the labels.
kiln::Graph buildQuadrants() {
  kiln::Builder b("quadrants");
  kiln::Value x = b.input("x", {kiln::DType::F32, {kBatch, 2}});
  kiln::Value labels = b.input("labels", {kiln::DType::I32, {kBatch}});
  kiln::LinearLayer fc1 = kiln::makeLinear(b, "fc1", 2, kHidden), fc2 = kiln::makeLinear(b, "fc2", kHidden, 2);
  b.output("loss", kiln::crossEntropy(fc2(kiln::relu(fc1(x))), labels));
  return b.finish();
}

/// A batch of points uniform in [-1, 1)^2, labelled 1 where x * y > 0, as the session's inputs.
kiln::TensorFile drawBatch(kiln::Rng& rng) {
  kiln::HostTensor x(kiln::DType::F32, {kBatch, 2}), labels(kiln::DType::I32, {kBatch});
  for (int64_t i = 0; i < kBatch; ++i) {
    double px = 2 * rng.uniform() - 1, py = 2 * rng.uniform() - 1;
    x.data[size_t(2 * i)] = float(px);
    x.data[size_t(2 * i + 1)] = float(py);
    labels.data[size_t(i)] = px * py > 0 ? 1 : 0;
  }
  return kiln::toStored(kiln::TensorMap{{"x", x}, {"labels", labels}});
}

/// The mean of the losses in [begin, end).
double meanOf(std::vector<double>::const_iterator begin, std::vector<double>::const_iterator end) {
  return std::accumulate(begin, end, 0.0) / double(end - begin);
}

}  // namespace

int main() {
  try {
    kiln::OptimizerOptions adam;
    adam.kind = "adam";
    adam.lr = 0.02;
    kiln::Graph program = kiln::addOptimizer(kiln::autodiff(buildQuadrants()), adam);
    std::unique_ptr<kiln::Session> session = kiln::compileSession(program, /*seed=*/1);
    kiln::Rng rng(7);
    std::vector<double> losses;
    for (int64_t step = 0; step < kSteps; ++step) {
      losses.push_back(session->step(drawBatch(rng)));
      if (step % 50 == 0 || step == kSteps - 1) std::printf("step %3lld  loss %.4f\n", (long long)step, losses.back());
    }
    double first = meanOf(losses.begin(), losses.begin() + kWindow);
    double last = meanOf(losses.end() - kWindow, losses.end());
    bool fell = last < 0.5 * first;
    std::printf("mean loss of the first %lld steps %.4f, of the last %lld steps %.4f: %s\n", (long long)kWindow,
                first, (long long)kWindow, last, fell ? "trained" : "did not train");
    return fell ? 0 : 1;
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
