// kiln train: trains a model on its data (Fashion-MNIST or text, tools/TrainData.cpp) with its training
// program (autodiff + optimizer), run by the JIT or the interpreter, with a progress bar, an evaluation per
// epoch, and atomic checkpoints.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <numeric>

#include <fmt/format.h>

#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "models/TextCorpus.h"
#include "models/Models.h"
#include "runtime/ThreadPool.h"
#include "tools/CliCommon.h"
#include "tools/Engines.h"
#include "tools/TrainData.h"
#include "tools/TrainLog.h"

namespace kiln {

const char* kTrainHelp =
    "usage: kiln train MODEL --data SOURCE (--steps N | --epochs N) [--engine jit|interp] [--batch N] [--set KEY=N,...]\n"
    "                  [--seed N] [--save CKPT] [--resume CKPT] [--eval-limit N] [--eval-every N] [--log-every N]\n"
    "                  [--log METRICS.jsonl] [--plot CURVES.svg]\n"
    "                  [--time-passes] [--no-cache] [--threads N] [--allow-nan] [optimizer flags]\n"
    "Trains MODEL on a data source, shuffled each epoch with the seed, showing a progress bar (epoch, step,\n"
    "loss, images or tokens per second, ETA) and an evaluation after each epoch (or at the end of --steps).\n"
    "Incomplete last batches are dropped (the graph's batch size is static). Sources:\n"
    "  fashion-mnist[:DIR]  for mlp and cnn: Debian's Fashion-MNIST (or the four files, gzip or plain IDX, in\n"
    "                       DIR); evaluated by test accuracy\n"
    "  text[:PATH]          for gpt and gpt2-124m: Debian's fortunes (or the file at PATH) as byte-level\n"
    "                       tokens (vocabulary 256, set unless --set gives vocab), the first 90% of its bytes\n"
    "                       to train on in windows of seq + 1 bytes, the last 10% to validate; evaluated by\n"
    "                       the validation loss beside the training split's unigram entropy\n"
    "  --engine jit|interp  compiled kernels (default) or the reference interpreter (slow, exact)\n"
    "  --batch N            batch size (default: the model's own)\n"
    "  --set KEY=N,...      change the model's settings (`kiln models` lists them)\n"
    "  --seed N             parameter initialisation and shuffling (default 0)\n"
    "  --save CKPT          write parameters and optimizer state after each epoch and at the end, atomically\n"
    "                       (and when a non-finite loss stops training: the state before that step)\n"
    "  --resume CKPT        start from a checkpoint; training continues at the step it was saved after, with\n"
    "                       the same data order, so the next step is the one that was not run\n"
    "  --eval-limit N       evaluate on the first N test images (a multiple of 100; default all of them, up to\n"
    "                       10000) or validation windows (rounded down to whole batches; default all)\n"
    "  --eval-every N       also evaluate every N steps (the line starts \"step N:\")\n"
    "  --log-every N        without a terminal, a progress line every N steps (default 100); --log's interval\n"
    "  --log FILE           metrics as JSON lines, rewritten atomically as they come: {\"step\", \"epoch\",\n"
    "                       \"train_loss\"} (the mean since the previous line) every --log-every steps and at\n"
    "                       each epoch's end, {\"step\", \"epoch\", \"validation_loss\" or \"test_accuracy\"} at each\n"
    "                       evaluation; with --resume the earlier run's lines are kept\n"
    "  --plot FILE          the training loss and the evaluations as an SVG line chart, redrawn as they come\n"
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
  ModelConfig config;  ///< the model's settings, --set applied (and vocab=256 for text unless --set gives it)
  int64_t batch, steps, epochs, logEvery, evalEvery;
  std::optional<int64_t> evalLimit;
  uint64_t seed;
  std::string engine, data;
};

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
  std::string sets = args.value("set").value_or("");
  s.data = args.value("data").value_or("");
  if (s.data.empty()) throw Error("kiln train: --data is required: fashion-mnist[:DIR] or text[:PATH]");
  bool vocabGiven = ("," + sets).find(",vocab=") != std::string::npos;
  if (isTextData(s.data) && s.model->textVocab && !vocabGiven) sets += (sets.empty() ? "" : ",") + fmt::format("vocab={}", s.model->textVocab);
  s.config = s.model->configure(sets);
  s.engine = args.value("engine").value_or("jit");
  if (s.engine != "jit" && s.engine != "interp")
    throw Error(fmt::format("kiln train: unknown --engine '{}'; expected jit or interp", s.engine));
  if (args.has("steps") == args.has("epochs")) throw Error("kiln train: give exactly one of --steps and --epochs");
  s.batch = args.integer("batch", s.model->defaultBatch, 1, 60000);
  s.steps = args.integer("steps", 0, 1, INT32_MAX);
  s.epochs = args.integer("epochs", 0, 1, 10000);
  if (args.has("eval-limit")) s.evalLimit = args.integer("eval-limit", 0, 1, INT32_MAX);
  s.logEvery = args.integer("log-every", 100, 1, INT32_MAX);
  s.evalEvery = args.integer("eval-every", 0, 1, INT32_MAX);
  s.seed = uint64_t(args.integer("seed", 0, 0, INT64_MAX));
  return s;
}

/// The progress line: a bar on a terminal (redrawn in place), else a line every `every` steps.
class Progress {
 public:
  Progress(int64_t total, int64_t perEpoch, int64_t units, std::string unit, int64_t every)
      : total_(total), perEpoch_(perEpoch), batch_(units), every_(every), unit_(std::move(unit)), tty_(isatty(2)) {}

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
    std::string line = fmt::format("epoch {} [{}{}] step {}/{} loss {} {:.0f} {}/s ETA {}:{:02}", step / perEpoch_ + 1,
                                   std::string(size_t(filled), '#'), std::string(size_t(20 - filled), '.'), step + 1,
                                   total_, lossText, rate, unit_, eta / 60, eta % 60);
    std::cerr << (tty_ ? "\r" + line + (last ? "\n" : "") : line + "\n") << std::flush;
    lossSum_ = 0, lossCount_ = 0, skipped_ = 0, drawn_ = now;
  }

 private:
  int64_t total_, perEpoch_, batch_, every_;  // batch_: units (images, tokens) per step
  std::string unit_;
  bool tty_;
  double lossSum_ = 0;
  int64_t lossCount_ = 0, skipped_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), drawn_ = start_;
};

/// The settings of the program that evaluates: the training ones with dropout off.
ModelConfig evaluationConfig(ModelConfig c) {
  for (auto& [key, value] : c.values)
    if (key == "dropout") value = 0;
  return c;
}

/// What the checkpoints say about the model, for kiln generate to rebuild it.
Metadata checkpointMetadata(const TrainSetup& s) {
  Metadata m{{"kiln.model", s.model->name}, {"kiln.settings", s.config.sets()}};
  if (isTextData(s.data)) m["kiln.tokenizer"] = "bytes";
  return m;
}

/// Steps already run by the program whose state `values` holds (its optimizer.step counter).
int64_t completedSteps(const TensorFile& values) {
  auto it = values.find("optimizer.step");
  return it == values.end() ? 0 : int64_t(fromStored(it->second, it->first).data.at(0));
}

}  // namespace

int cmdTrain(const std::vector<std::string>& argv) {
  if (wantsHelp(argv, kTrainHelp)) return 0;
  Args args("train", argv,
            withPassFlags({{"engine", "data", "steps", "epochs", "batch", "seed", "eval-limit", "log-every", "save", "resume", "threads", "set",
                            "eval-every", "log", "plot"},
                           {"time-passes", "no-cache", "allow-nan"}}));
  TrainSetup s = parseSetup(args);
  PassOptions o = passOptions(args);
  if (!o.has("optimizer")) o.set("optimizer", "sgd-momentum");
  Graph model = s.model->build(s.batch, s.config);
  Graph program = findPass("optimizer")(findPass("autodiff")(model, o), o);
  std::unique_ptr<TrainData> data = makeTrainData(s.data, program, s.seed, s.evalLimit);
  Graph forward = s.model->build(data->evalBatch(), evaluationConfig(s.config));
  CompileOptions copts = compileOptions(args);
  std::unique_ptr<Session> engine = makeSession(s.engine, program, s.seed, copts, args.has("time-passes"), "training step");
  engine->setMetadata(checkpointMetadata(s));
  std::unique_ptr<Session> eval = makeSession(s.engine, forward, s.seed, copts, args.has("time-passes"), "forward pass");
  int64_t perEpoch = data->stepsPerEpoch();
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
  std::string settings = s.config.values.empty() ? "" : fmt::format(" ({})", s.config.str());
  std::cout << fmt::format("training {}{} on {}: batch {}, {} steps ({} per epoch), {} (lr {}), engine {}{}\n", s.model->name,
                           settings, data->describe(), s.batch, total, perEpoch, o.text("optimizer", ""), o.number("lr", 0.01),
                           s.engine, threads);
  TrainLog log(args.value("log"), args.value("plot"), fmt::format("kiln train {}{} on {}", s.model->name, settings, s.data),
               args.has("resume"), first);
  Progress progress(total, perEpoch, data->unitsPerStep(), data->unit(), s.logEvery);
  for (int64_t step = first; step < total; ++step) {
    std::optional<double> loss = trainStep(*engine, data->batch(step), args, step, total);
    progress.update(step, step - first + 1, loss);
    bool epochEnd = (step + 1) % perEpoch == 0 || step == total - 1;
    log.trainLoss(step, step / perEpoch + 1, loss, s.logEvery, epochEnd);
    if (epochEnd) {
      if (auto path = args.value("save")) engine->save(*path);
    } else if (!s.evalEvery || (step + 1) % s.evalEvery != 0) {
      continue;
    }
    Evaluation e = data->evaluate(*engine, *eval);
    log.evaluation(step, step / perEpoch + 1, e);
    std::cout << (epochEnd ? fmt::format("epoch {}: {}\n", step / perEpoch + 1, e.text)
                           : fmt::format("step {}: {}\n", step + 1, e.text)) << std::flush;
  }
  return 0;
}

}  // namespace kiln
