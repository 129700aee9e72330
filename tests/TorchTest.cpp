// PyTorch as the outside oracle: kiln's loss, every parameter gradient and the parameters after three
// AdamW steps, for the MLP, the CNN and one GPT block, against torch autograd on the same weights and
// inputs (exchanged as safetensors); and GPT checkpoints loaded by the twin and the twin's by kiln. Needs Debian's python3-torch under /usr/bin/python3; without it the
// test fails, it never skips.
//
// Tolerances, all in f32 on both sides: the loss within 1e-5 relative; each gradient within 1e-4 of the
// largest magnitude of its tensor (summation orders differ); after 3 AdamW steps each parameter element
// whose first gradient is at least 1e-5 within 1e-3 of the distance the steps can move it (3 x lr).
// Elements with smaller gradients are reported, not bounded: Adam divides by sqrt(v) + eps, so a gradient
// that is rounding noise (~1e-9) can move its element either way by up to lr in either implementation.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "compiler/InterpSession.h"
#include "models/FashionMnist.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

constexpr double kLr = 1e-3, kWeightDecay = 0.01;
constexpr int kSteps = 3;

TensorMap fashionInputs(const Graph& g, int64_t batch) {
  Dataset d = loadFashionMnist("test");
  HostTensor x(DType::F32, g[*g.findLeaf("x")].type.shape), l(DType::I32, {batch});
  std::copy_n(d.images.begin(), batch * 784, x.data.begin());
  for (int64_t i = 0; i < batch; ++i) l.data[size_t(i)] = d.labels[size_t(i)];
  return {{"x", x}, {"labels", l}};
}

/// Runs kiln on `g`, writes everything compare.py needs to `dir` (with `config`, the model's settings, for
/// gpt and bert), runs it, and returns its JSON line.
nlohmann::json compareWithTorch(const std::string& model, const Graph& g, const TensorMap& inputs, const std::string& dir,
                                const nlohmann::json& config = nullptr) {
  TensorMap leaves = initParameters(g, 11), params;  // parameters, and state (dropout.step) fed as it starts
  for (auto& [k, v] : leaves)
    if (g[*g.findLeaf(k)].op == Op::Parameter) params[k] = v;
  TensorMap feeds = leaves;
  for (auto& [k, v] : inputs) feeds[k] = v;
  Graph withGrads = autodiff(g);
  TensorMap out = evaluate(withGrads, feeds);
  TensorMap kiln = {{"loss", out.at("loss")}};
  for (auto& [k, v] : params) kiln["grad/" + k] = out.at(gradOutputName(k));
  OptimizerOptions o;
  o.kind = "adamw", o.lr = kLr, o.weightDecay = kWeightDecay;
  InterpSession s(addOptimizer(withGrads, o), 0);
  for (auto& [k, v] : params) s.set(k, v);
  for (int i = 0; i < kSteps; ++i) s.step(inputs);
  for (auto& [k, v] : params) kiln["after/" + k] = s.get(k);
  writeSafetensors(dir + "/weights.safetensors", toStored(params));
  writeSafetensors(dir + "/inputs.safetensors", toStored(inputs));
  writeSafetensors(dir + "/kiln.safetensors", toStored(kiln));
  nlohmann::json c = {{"lr", kLr}, {"weight_decay", kWeightDecay}, {"steps", kSteps},
                      {"tolerance", {{"loss", 1e-5}, {"grad", 1e-4}, {"adamw", 1e-3}}}};
  if (!config.is_null()) c["config"] = config;
  std::ofstream(dir + "/case.json") << c.dump();
  std::string cmd = "/usr/bin/python3 " + test::sourcePath("tests/torch/compare.py") + " " + dir + " " + model + " > " +
                    dir + "/result.json 2> " + dir + "/stderr.txt";
  int status = std::system(cmd.c_str());
  std::ifstream err(dir + "/stderr.txt");
  std::string errText((std::istreambuf_iterator<char>(err)), {});
  INFO("compare.py stderr: ", errText);
  std::ifstream res(dir + "/result.json");
  std::string line;
  std::getline(res, line);
  INFO("compare.py result: ", line);
  CHECK(status == 0);
  return line.empty() ? nlohmann::json{} : nlohmann::json::parse(line);
}

}  // namespace

TEST_CASE("PyTorch agrees: loss, gradients and three AdamW steps of the MLP, the CNN and a GPT block") {
  struct Case {
    std::string model;
    Graph g;
    TensorMap inputs;
  };
  Graph mlp = findModel("mlp").build(8), cnn = findModel("cnn").build(4), block = buildGptBlock(2, 16);
  Rng rng(5);
  HostTensor x(DType::F32, {2, 16, 256}), target(DType::F32, {2, 16, 256});
  for (double& v : x.data) v = double(float(rng.normal()));
  for (double& v : target.data) v = double(float(rng.normal()));
  std::vector<Case> cases = {{"mlp", mlp, fashionInputs(mlp, 8)},
                             {"cnn", cnn, fashionInputs(cnn, 4)},
                             {"gpt-block", block, {{"x", x}, {"target", target}}}};
  for (const Case& c : cases) {
    INFO("model ", c.model);
    std::string dir = test::tempDir("torch-" + c.model);
    nlohmann::json r = compareWithTorch(c.model, c.g, c.inputs, dir);
    MESSAGE(c.model, ": ", r.dump());
    REQUIRE(r.contains("grad"));
    CHECK(r["loss"].get<double>() <= 1e-5);
    CHECK(r["grad"].get<double>() <= 1e-4);
    CHECK(r["adamw"].get<double>() <= 1e-3);
    if (!getenv("KILN_KEEP")) std::filesystem::remove_all(dir);
  }
}

TEST_CASE("PyTorch agrees: loss, gradients and three AdamW steps of a small GPT and BERT, with kiln's dropout masks and without") {
  Rng rng(9);
  auto tokens = [&](int64_t vocab, bool ignore) {
    HostTensor t(DType::I32, {2, 8});
    for (double& v : t.data) v = ignore && rng.next() % 3 != 0 ? -100 : double(rng.next() % uint64_t(vocab));
    return t;
  };
  for (std::string model : {"gpt", "bert"})
    for (int dropout : {0, 20}) {
      INFO(model, " dropout ", dropout, "%");
      const ModelSpec& spec = findModel(model);
      int64_t vocab = model == "gpt" ? 64 : 65;
      std::string sets = fmt::format("vocab={},context=16,seq=8,layers=2,width=32,heads=2,dropout={}", vocab, dropout);
      Graph g = spec.build(2, spec.configure(sets));
      TensorMap in{{"tokens", tokens(vocab, false)}, {model == "gpt" ? "targets" : "labels", tokens(vocab, model == "bert")}};
      nlohmann::json config = {{"vocab", vocab}, {"context", 16}, {"layers", 2}, {"width", 32}, {"heads", 2}, {"dropout", dropout / 100.0}};
      std::string dir = test::tempDir(fmt::format("torch-{}-{}", model, dropout));
      nlohmann::json r = compareWithTorch(model, g, in, dir, config);
      MESSAGE(model, " dropout ", dropout, "%: ", r.dump());
      REQUIRE(r.contains("grad"));
      CHECK(r["loss"].get<double>() <= 1e-5);
      CHECK(r["grad"].get<double>() <= 1e-4);
      CHECK(r["adamw"].get<double>() <= 1e-3);
      if (!getenv("KILN_KEEP")) std::filesystem::remove_all(dir);
    }
}

namespace {

/// The loss of forward program `g` on `batch` with the parameters of the checkpoint at `path` (its
/// optimizer state left out), on the interpreter.
double lossWithCheckpoint(const Graph& g, const std::string& path, const TensorFile& batch) {
  InterpSession s(g, 0);
  TensorFile file = readSafetensors(path);
  for (auto& [name, t] : takeCheckpointPart(file, s.stateSpec(), path)) s.setState(name, t);
  return static_cast<Session&>(s).step(batch);
}

}  // namespace

TEST_CASE("checkpoints cross to PyTorch and back: the twin gets kiln's loss from kiln's GPT checkpoint, and kiln the twin's") {
  std::string dir = test::tempDir("crossing");
  std::string sets = "layers=2,width=32,heads=2,seq=16,context=32";
  test::CliResult train = test::runKiln("train gpt --data text --set " + sets + " --batch 4 --steps 20 --optimizer adamw "
                                        "--lr 0.01 --eval-limit 8 --save " + dir + "/kiln.ckpt");
  INFO(train.out, train.err);
  REQUIRE(train.status == 0);
  const ModelSpec& gpt = findModel("gpt");
  Graph forward = gpt.build(2, gpt.configure("vocab=256," + sets));
  HostTensor tokens(DType::I32, {2, 16}), targets(DType::I32, {2, 16});
  std::string text = "The quick brown fox jumps over the lazy dog, again and again.";
  for (size_t i = 0; i < 32; ++i) tokens.data[i] = (unsigned char)text[i], targets.data[i] = (unsigned char)text[i + 1];
  TensorFile batch = toStored(TensorMap{{"tokens", tokens}, {"targets", targets}});
  writeSafetensors(dir + "/batch.safetensors", batch);
  std::string cmd = "/usr/bin/python3 " + test::sourcePath("tests/torch/crossing.py") + " " + dir + " > " + dir +
                    "/result.json 2> " + dir + "/stderr.txt";
  int status = std::system(cmd.c_str());
  std::ifstream err(dir + "/stderr.txt"), res(dir + "/result.json");
  std::string errText((std::istreambuf_iterator<char>(err)), {}), line;
  std::getline(res, line);
  INFO("crossing.py: ", errText, line);
  REQUIRE(status == 0);
  nlohmann::json r = nlohmann::json::parse(line);
  double kilnLoss = lossWithCheckpoint(forward, dir + "/kiln.ckpt", batch);
  double twinWeights = lossWithCheckpoint(forward, dir + "/torch.ckpt", batch);
  MESSAGE("kiln's weights: kiln ", kilnLoss, ", PyTorch ", r["loss_kiln_weights"].get<double>(), "; the twin's: kiln ",
          twinWeights, ", PyTorch ", r["loss_torch_weights"].get<double>());
  CHECK(std::fabs(kilnLoss - r["loss_kiln_weights"].get<double>()) <= 1e-5 * kilnLoss);
  CHECK(std::fabs(twinWeights - r["loss_torch_weights"].get<double>()) <= 1e-5 * twinWeights);
  CHECK(std::fabs(twinWeights - kilnLoss) > 1e-3);  // the twin's step changed the weights: a real second check
  // The twin's checkpoint carries the metadata, so kiln generate rebuilds the model from it alone.
  test::CliResult gen = test::runKiln("generate " + dir + "/torch.ckpt --prompt 'The ' --tokens 8 --temperature 0");
  CHECK(gen.status == 0);
  CHECK(gen.out.size() == 4 + 8 + 1);
  if (!getenv("KILN_KEEP")) std::filesystem::remove_all(dir);
}

}  // namespace kiln
