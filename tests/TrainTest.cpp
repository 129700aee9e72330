// Training for real, in the interpreter: the MLP on Fashion-MNIST for a few hundred small steps.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include "compiler/ParamInit.h"
#include "compiler/InterpSession.h"
#include "models/FashionMnist.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"
#include "tests/TestUtil.h"

namespace kiln {

TEST_CASE("the MLP trains in the interpreter: 300 steps of batch 16 more than halve the loss") {
  const int64_t batch = 16, steps = 300, window = 30;
  OptimizerOptions o;
  o.kind = "sgd-momentum";
  o.lr = 0.01;
  InterpSession s(addOptimizer(autodiff(findModel("mlp").build(batch)), o), 1);
  Dataset d = loadFashionMnist("train");
  std::vector<int64_t> order(size_t(d.count));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(3);
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.next() % (i + 1)]);
  std::vector<double> losses;
  for (int64_t step = 0; step < steps; ++step) {
    HostTensor x(DType::F32, {batch, 784}), l(DType::I32, {batch});
    for (int64_t i = 0; i < batch; ++i) {
      int64_t src = order[size_t(step * batch + i)];
      std::copy_n(d.images.begin() + src * 784, 784, x.data.begin() + i * 784);
      l.data[size_t(i)] = d.labels[size_t(src)];
    }
    losses.push_back(InterpSession::loss(s.step({{"x", x}, {"labels", l}})));
  }
  double first = std::accumulate(losses.begin(), losses.begin() + window, 0.0) / window;
  double last = std::accumulate(losses.end() - window, losses.end(), 0.0) / window;
  MESSAGE("mean loss of the first ", window, " steps ", first, ", of the last ", window, " steps ", last);
  CHECK(std::fabs(losses[0] - std::log(10.0)) < 0.2);  // chance level at the start
  CHECK(last < 0.5 * first);                            // the stated margin: more than halved
}

}  // namespace kiln
