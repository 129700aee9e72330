// kiln train: trains a model on Fashion-MNIST with its training program (autodiff + optimizer), run by the
// JIT or the interpreter, with a progress bar, test accuracy per epoch, and atomic checkpoints.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <numeric>

#include <fmt/format.h>

#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "models/FashionMnist.h"
#include "models/Models.h"
#include "runtime/ThreadPool.h"
#include "tools/CliCommon.h"
#include "tools/Engines.h"

namespace kiln {

const char* kTrainHelp =
    "usage: kiln train MODEL --data fashion-mnist[:DIR] (--steps N | --epochs N) [--engine jit|interp] [--batch N]\n"
    "                  [--seed N] [--save CKPT] [--resume CKPT] [--eval-limit N] [--log-every N]\n"
    "                  [--time-passes] [--no-cache] [--threads N] [--allow-nan] [optimizer flags]\n"
    "Trains MODEL (mlp or cnn) on the Fashion-MNIST training set, shuffled each epoch with the seed, showing\n"
    "a progress bar (epoch, step, loss, images/s, ETA) and the test accuracy after each epoch (or at the end\n"
    "of --steps). Incomplete last batches are dropped (the graph's batch size is static). --data\n"
    "fashion-mnist:DIR reads the four Fashion-MNIST files (gzip or plain IDX) from DIR instead of Debian's copy.\n"
    "  --engine jit|interp  compiled kernels (default) or the reference interpreter (slow, exact)\n"
    "  --batch N            batch size (default: the model's own)\n"
    "  --set KEY=N,...      change the model's settings (`kiln models` lists them)\n"
    "  --seed N             parameter initialisation and shuffling (default 0)\n"
    "  --save CKPT          write parameters and optimizer state after each epoch and at the end, atomically\n"
    "                       (and when a non-finite loss stops training: the state before that step)\n"
    "  --resume CKPT        start from a checkpoint; training continues at the step it was saved after, with\n"
    "                       the same data order, so the next step is the one that was not run\n"
    "  --eval-limit N       evaluate on the first N test images (a multiple of 100; default all of them, up to\n"
    "                       10000)\n"
    "  --log-every N        without a terminal, a progress line every N steps (default 100)\n"
    "  --time-passes        report compile time per stage\n"
    "  --no-cache           compile without the on-disk object cache\n"
    "  --threads N          with jit: threads that compile and run the steps (default $KILN_THREADS, else\n"
    "                       every core); the losses and parameters are the same bits at any count\n"
    "  --allow-nan          skip a step whose loss is NaN or infinite (its update is dropped; the progress line\n"
    "                       counts the skipped steps) instead of stopping with an error naming the step\n"
    "Defaults: --optimizer sgd-momentum --lr 0.01.\n";

namespace {

struct TrainSetup {
  const ModelSpec* model;
  ModelConfig config;  ///< the model's settings, --set applied
  int64_t batch, steps, epochs, evalLimit, logEvery;
  uint64_t seed;
  std::string engine;
  std::string dataDir;  ///< where the Fashion-MNIST files are
  bool evalLimitGiven = false;
};

/// Images order[first..first+count) of `d`, shaped as input x of `g`, and their labels, as the arena holds
/// them (f32 and i32 bytes, copied straight from the dataset).
TensorFile makeBatch(const Dataset& d, const std::vector<int64_t>& order, int64_t first, int64_t count, const Graph& g) {
  StoredTensor x{"F32", g[*g.findLeaf("x")].type.shape, std::vector<uint8_t>(size_t(count * 784) * sizeof(float))};
  StoredTensor l{"I32", {count}, std::vector<uint8_t>(size_t(count) * sizeof(int32_t))};
  for (int64_t i = 0; i < count; ++i) {
    int64_t src = order[size_t(first + i)];
    std::memcpy(x.bytes.data() + size_t(i * 784) * sizeof(float), d.images.data() + src * 784, 784 * sizeof(float));
    std::memcpy(l.bytes.data() + size_t(i) * sizeof(int32_t), &d.labels[size_t(src)], sizeof(int32_t));
  }
  return {{"x", std::move(x)}, {"labels", std::move(l)}};
}

constexpr int64_t kEvalBatch = 100;

/// Accuracy with the training session's current parameters, copied into the forward session, on the first
/// `limit` test images.
std::optional<double> testAccuracy(const Session& train, Session& forward, const Graph& forwardGraph, const Dataset& test,
                                   int64_t limit) {
  TensorFile params = train.state();
  for (const TensorSpec& p : forward.stateSpec()) forward.setState(p.name, params.at(p.name));
  std::vector<int64_t> order(size_t(test.count));
  std::iota(order.begin(), order.end(), 0);
  int64_t correct = 0;
  for (int64_t first = 0; first < limit; first += kEvalBatch) {
    TensorFile in = makeBatch(test, order, first, kEvalBatch, forwardGraph);
    TensorFile out;
    try {
      out = forward.run(in);
    } catch (const NonFiniteLoss&) {
      return std::nullopt;
    }
    HostTensor logits = fromStored(out.at("logits"), "logits");
    for (int64_t i = 0; i < kEvalBatch; ++i) {
      auto row = logits.data.begin() + i * 10;
      correct += std::max_element(row, row + 10) - row == test.labels[size_t(first + i)];
    }
  }
  return double(correct) / double(limit);
}

/// Step `step` (of `total`, counting the whole run) on `batch`: its loss, or none when the loss is not finite
/// and --allow-nan skips it. Without --allow-nan that is an Error naming the step, after writing the
/// parameters (those of before the step) to --save's checkpoint.
std::optional<double> trainStep(Session& engine, const TensorFile& batch, const Args& args, int64_t step, int64_t total) {
  try {
    return engine.step(batch);
  } catch (const NonFiniteLoss& e) {
    if (args.has("allow-nan")) return std::nullopt;
    std::string saved;
    if (auto path = args.value("save")) engine.save(*path), saved = ", saved to " + *path;
    throw Error(fmt::format("step {}/{}: the loss is {} (training stopped; the parameters are those before this step{})",
                            step + 1, total, e.lossText(), saved));
  }
}

TrainSetup parseSetup(const Args& args) {
  TrainSetup s{};
  args.expectPositionals(1, "one MODEL");
  s.model = &findModel(args.positionals()[0]);
  if (s.model->name != "mlp" && s.model->name != "cnn")
    throw Error(fmt::format("kiln train: {} has no dataset yet; train mlp or cnn", s.model->name));
  s.config = s.model->configure(args.value("set").value_or(""));
  s.engine = args.value("engine").value_or("jit");
  if (s.engine != "jit" && s.engine != "interp")
    throw Error(fmt::format("kiln train: unknown --engine '{}'; expected jit or interp", s.engine));
  if (!args.value("data")) throw Error("kiln train: --data fashion-mnist (or fashion-mnist:DIR) is required");
  s.dataDir = fashionMnistDir(*args.value("data"), "kiln train");
  if (args.has("steps") == args.has("epochs")) throw Error("kiln train: give exactly one of --steps and --epochs");
  s.batch = args.integer("batch", s.model->defaultBatch, 1, 60000);
  s.steps = args.integer("steps", 0, 1, INT32_MAX);
  s.epochs = args.integer("epochs", 0, 1, 10000);
  s.evalLimit = args.integer("eval-limit", 10000, 100, 10000);
  s.evalLimitGiven = args.has("eval-limit");
  if (s.evalLimit % 100 != 0) throw Error("kiln train: --eval-limit must be a multiple of 100");
  s.logEvery = args.integer("log-every", 100, 1, INT32_MAX);
  s.seed = uint64_t(args.integer("seed", 0, 0, INT64_MAX));
  return s;
}

/// The progress line: a bar on a terminal (redrawn in place), else a line every `every` steps.
class Progress {
 public:
  Progress(int64_t total, int64_t perEpoch, int64_t batch, int64_t every)
      : total_(total), perEpoch_(perEpoch), batch_(batch), every_(every), tty_(isatty(2)) {}

  /// After step `step` (`done` steps run by this process so far), with its loss, or none for a step skipped
  /// by --allow-nan (not averaged in; the line counts them).
  void update(int64_t step, int64_t done, std::optional<double> loss) {
    if (loss) lossSum_ += *loss, lossCount_++;
    else skipped_++;
    auto now = std::chrono::steady_clock::now();
    bool last = step + 1 == total_ || (step + 1) % perEpoch_ == 0;
    double sinceDraw = std::chrono::duration<double>(now - drawn_).count();
    if (tty_ ? !(last || sinceDraw > 0.1) : !(last || (step + 1) % every_ == 0)) return;
    double secs = std::chrono::duration<double>(now - start_).count();
    double rate = double(done * batch_) / std::max(secs, 1e-9);
    int64_t eta = int64_t(double((total_ - step - 1) * batch_) / std::max(rate, 1e-9));
    int64_t inEpoch = step % perEpoch_ + 1, filled = inEpoch * 20 / perEpoch_;
    std::string lossText = lossCount_ ? fmt::format("{:.4f}", lossSum_ / double(lossCount_)) : "-";
    if (skipped_) lossText += fmt::format(" ({} skipped: not finite)", skipped_);
    std::string line = fmt::format("epoch {} [{}{}] step {}/{} loss {} {:.0f} img/s ETA {}:{:02}", step / perEpoch_ + 1,
                                   std::string(size_t(filled), '#'), std::string(size_t(20 - filled), '.'), step + 1,
                                   total_, lossText, rate, eta / 60, eta % 60);
    std::cerr << (tty_ ? "\r" + line + (last ? "\n" : "") : line + "\n") << std::flush;
    lossSum_ = 0, lossCount_ = 0, skipped_ = 0, drawn_ = now;
  }

 private:
  int64_t total_, perEpoch_, batch_, every_;
  bool tty_;
  double lossSum_ = 0;
  int64_t lossCount_ = 0, skipped_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), drawn_ = start_;
};

/// Steps already run by the program whose state `values` holds (its optimizer.step counter).
int64_t completedSteps(const TensorFile& values) {
  auto it = values.find("optimizer.step");
  return it == values.end() ? 0 : int64_t(fromStored(it->second, it->first).data.at(0));
}

}  // namespace

int cmdTrain(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kTrainHelp)) return 0;
  Args args("train", argv,
            withPassFlags({{"engine", "data", "steps", "epochs", "batch", "seed", "eval-limit", "log-every", "save", "resume", "threads", "set"},
                           {"time-passes", "no-cache", "allow-nan"}}));
  TrainSetup s = parseSetup(args);
  PassOptions o = passOptions(args);
  if (!o.has("optimizer")) o.set("optimizer", "sgd-momentum");
  Graph model = s.model->build(s.batch, s.config);
  Graph program = findPass("optimizer")(findPass("autodiff")(model, o), o);
  Graph forward = s.model->build(kEvalBatch, s.config);
  CompileOptions copts = compileOptions(args);
  std::unique_ptr<Session> engine = makeSession(s.engine, program, s.seed, copts, args.has("time-passes"), "training step");
  std::unique_ptr<Session> eval = makeSession(s.engine, forward, s.seed, copts, args.has("time-passes"), "forward pass");
  Dataset train = loadFashionMnist("train", s.dataDir), test = loadFashionMnist("test", s.dataDir);
  if (train.count < s.batch)
    throw Error(fmt::format("kiln train: the training set has {} images, fewer than one batch of {}", train.count, s.batch));
  if (!s.evalLimitGiven) s.evalLimit = std::min<int64_t>(s.evalLimit, test.count / 100 * 100);
  if (s.evalLimit < 100 || s.evalLimit > test.count)
    throw Error(fmt::format("kiln train: --eval-limit {} needs a test set of at least that many images (and 100); it has {}",
                            s.evalLimit, test.count));
  int64_t perEpoch = train.count / s.batch;
  int64_t total = s.steps ? s.steps : perEpoch * s.epochs;
  int64_t first = 0;
  if (auto ckpt = args.value("resume")) {
    engine->load(*ckpt);
    first = completedSteps(engine->state());
    if (first < 0)
      throw Error(Location{*ckpt, 0, 0}, fmt::format("the checkpoint's step counter optimizer.step is {}: expected 0 or more", first));
    if (first >= total)
      throw Error(Location{*ckpt, 0, 0}, fmt::format("the checkpoint is already at step {} of this run's {}: nothing to train "
                                                     "(give more --steps or --epochs)", first, total));
    std::cout << fmt::format("resumed from {} after step {}\n", *ckpt, first);
  }
  std::string threads = s.engine == "jit" ? fmt::format(", {} threads", copts.threads > 0 ? copts.threads : defaultThreads()) : "";
  std::cout << fmt::format("training {} on Fashion-MNIST: batch {}, {} steps ({} per epoch), {} (lr {}), engine {}{}\n",
                           s.model->name, s.batch, total, perEpoch, o.text("optimizer", ""), o.number("lr", 0.01), s.engine,
                           threads);
  std::vector<int64_t> order(size_t(train.count));
  Progress progress(total, perEpoch, s.batch, s.logEvery);
  for (int64_t step = first; step < total; ++step) {
    int64_t epoch = step / perEpoch, inEpoch = step % perEpoch;
    if (inEpoch == 0 || step == first) {  // the shuffle of this epoch, from the seed and the epoch number
      std::iota(order.begin(), order.end(), 0);
      Rng rng(s.seed * 1000003 + uint64_t(epoch));
      for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.next() % (i + 1)]);
    }
    TensorFile batch = makeBatch(train, order, inEpoch * s.batch, s.batch, model);
    progress.update(step, step - first + 1, trainStep(*engine, batch, args, step, total));
    bool epochEnd = inEpoch == perEpoch - 1 || step == total - 1;
    if (!epochEnd) continue;
    if (auto path = args.value("save")) engine->save(*path);
    std::optional<double> accuracy = testAccuracy(*engine, *eval, forward, test, s.evalLimit);
    if (accuracy)
      std::cout << fmt::format("epoch {}: test accuracy {:.2f}% ({} images)\n", epoch + 1, 100 * *accuracy, s.evalLimit);
    else
      std::cout << fmt::format("epoch {}: no test accuracy: the test loss is not finite (the parameters hold NaN or "
                               "infinity)\n", epoch + 1);
    std::cout << std::flush;
  }
  return 0;
}

}  // namespace kiln
