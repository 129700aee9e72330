// kiln train: trains a model on Fashion-MNIST with a training program (autodiff + optimizer) run by a
// session, printing progress and the test accuracy.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <numeric>

#include <fmt/format.h>

#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "compiler/Session.h"
#include "ir/Error.h"
#include "models/FashionMnist.h"
#include "models/Models.h"
#include "tools/CliCommon.h"

namespace kiln {

const char* kTrainHelp =
    "usage: kiln train MODEL --data fashion-mnist (--steps N | --epochs N) [--engine interp] [--batch N]\n"
    "                  [--seed N] [--eval-limit N] [--log-every N] [optimizer flags]\n"
    "Trains MODEL (mlp or cnn) on the Fashion-MNIST training set, shuffled each epoch with the seed, and\n"
    "prints the test accuracy after each epoch (or at the end of --steps). Incomplete last batches are\n"
    "dropped (the graph's batch size is static).\n"
    "  --engine interp    the reference interpreter (slow, exact); the JIT arrives with its issue\n"
    "  --batch N          batch size (default: the model's own)\n"
    "  --seed N           parameter initialisation and shuffling (default 0)\n"
    "  --eval-limit N     evaluate on the first N test images (a multiple of 100; default all 10000)\n"
    "  --log-every N      progress line every N steps (default 20)\n"
    "Defaults: --optimizer sgd-momentum --lr 0.01.\n";

namespace {

struct TrainSetup {
  const ModelSpec* model;
  int64_t batch, steps, epochs, evalLimit, logEvery;
  uint64_t seed;
};

/// Images [first..first+count) of `d` in the order `order`, shaped as input x of `g`, and their labels.
TensorMap makeBatch(const Dataset& d, const std::vector<int64_t>& order, int64_t first, int64_t count, const Graph& g) {
  HostTensor x(DType::F32, g[*g.findLeaf("x")].type.shape), l(DType::I32, {count});
  for (int64_t i = 0; i < count; ++i) {
    int64_t src = order[size_t(first + i)];
    std::copy_n(d.images.begin() + src * 784, 784, x.data.begin() + i * 784);
    l.data[size_t(i)] = d.labels[size_t(src)];
  }
  return {{"x", x}, {"labels", l}};
}

/// Accuracy of the model with the session's parameters on the first `limit` test images.
double testAccuracy(const TrainSetup& s, const Session& session, const Dataset& test) {
  const int64_t evalBatch = 100;
  Graph g = s.model->build(evalBatch);
  TensorMap feeds;
  for (NodeId p : g.nodesWithOp(Op::Parameter)) feeds[leafName(g[p])] = session.get(leafName(g[p]));
  std::vector<int64_t> order(size_t(test.count));
  std::iota(order.begin(), order.end(), 0);
  int64_t correct = 0;
  for (int64_t first = 0; first < s.evalLimit; first += evalBatch) {
    for (auto& [k, v] : makeBatch(test, order, first, evalBatch, g)) feeds[k] = v;
    HostTensor logits = evaluate(g, feeds).at("logits");
    for (int64_t i = 0; i < evalBatch; ++i) {
      auto row = logits.data.begin() + i * 10;
      correct += std::max_element(row, row + 10) - row == feeds.at("labels").data[size_t(i)];
    }
  }
  return double(correct) / double(s.evalLimit);
}

TrainSetup parseSetup(const Args& args) {
  TrainSetup s{};
  args.expectPositionals(1, "one MODEL");
  s.model = &findModel(args.positionals()[0]);
  if (s.model->name == "gpt") throw Error("kiln train: gpt has no dataset yet; train mlp or cnn");
  std::string engine = args.value("engine").value_or("interp");
  if (engine != "interp") throw Error(fmt::format("kiln train: unknown --engine '{}'; only interp is built so far", engine));
  std::string data = args.value("data").value_or("");
  if (data != "fashion-mnist") throw Error("kiln train: --data fashion-mnist is required (the one dataset so far)");
  if (args.has("steps") == args.has("epochs")) throw Error("kiln train: give exactly one of --steps and --epochs");
  s.batch = args.integer("batch", s.model->defaultBatch, 1, 60000);
  s.steps = args.integer("steps", 0, 1, INT32_MAX);
  s.epochs = args.integer("epochs", 0, 1, 10000);
  s.evalLimit = args.integer("eval-limit", 10000, 100, 10000);
  if (s.evalLimit % 100 != 0) throw Error("kiln train: --eval-limit must be a multiple of 100");
  s.logEvery = args.integer("log-every", 20, 1, INT32_MAX);
  s.seed = uint64_t(args.integer("seed", 0, 0, INT64_MAX));
  return s;
}

}  // namespace

int cmdTrain(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kTrainHelp)) return 0;
  Args args("train", argv, withPassFlags({{"engine", "data", "steps", "epochs", "batch", "seed", "eval-limit", "log-every"}, {}}));
  TrainSetup s = parseSetup(args);
  PassOptions o = passOptions(args);
  if (!o.has("optimizer")) o.set("optimizer", "sgd-momentum");
  Graph model = s.model->build(s.batch);
  Graph program = findPass("optimizer").run(findPass("autodiff").run(model, o), o);
  Session session(program, s.seed);
  Dataset train = loadFashionMnist("train"), test = loadFashionMnist("test");
  int64_t perEpoch = train.count / s.batch;
  int64_t total = s.steps ? s.steps : perEpoch * s.epochs;
  std::cout << fmt::format("training {} on Fashion-MNIST: batch {}, {} steps ({} per epoch), {} (lr {}), engine interp\n",
                           s.model->name, s.batch, total, perEpoch, o.text("optimizer", ""), o.number("lr", 0.01));
  std::vector<int64_t> order(size_t(train.count));
  auto start = std::chrono::steady_clock::now();
  double lossSum = 0;
  int64_t lossCount = 0;
  for (int64_t step = 0; step < total; ++step) {
    int64_t epoch = step / perEpoch, inEpoch = step % perEpoch;
    if (inEpoch == 0) {  // a new shuffle per epoch, from the seed and the epoch number
      std::iota(order.begin(), order.end(), 0);
      Rng rng(s.seed * 1000003 + uint64_t(epoch));
      for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.next() % (i + 1)]);
    }
    lossSum += Session::loss(session.step(makeBatch(train, order, inEpoch * s.batch, s.batch, model)));
    lossCount++;
    bool epochEnd = inEpoch == perEpoch - 1 || step == total - 1;
    if ((step + 1) % s.logEvery == 0 || epochEnd) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      double rate = double((step + 1) * s.batch) / secs;
      std::cerr << fmt::format("epoch {} step {}/{} loss {:.4f} {:.0f} img/s ETA {:.0f}s\n", epoch + 1, step + 1, total,
                               lossSum / double(lossCount), rate, double((total - step - 1) * s.batch) / rate);
      lossSum = 0, lossCount = 0;
    }
    if (epochEnd)
      std::cout << fmt::format("epoch {}: test accuracy {:.2f}% ({} images)\n", epoch + 1,
                               100 * testAccuracy(s, session, test), s.evalLimit);
  }
  return 0;
}

}  // namespace kiln
