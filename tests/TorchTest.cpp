// PyTorch as the outside oracle: kiln's loss, every parameter gradient and the parameters after three
// AdamW steps, for the MLP, the CNN and one GPT block, against torch autograd on the same weights and
// inputs (exchanged as safetensors). Needs Debian's python3-torch under /usr/bin/python3; without it the
// test fails, it never skips.
//
// Tolerances, all in f32 on both sides: the loss within 1e-5 relative; each gradient within 1e-4 of the
// largest magnitude of its tensor (summation orders differ); after 3 AdamW steps each parameter element
// whose first gradient is at least 1e-5 within 1e-3 of the distance the steps can move it (3 x lr).
// Elements with smaller gradients are reported, not bounded: Adam divides by sqrt(v) + eps, so a gradient
// that is rounding noise (~1e-9) can move its element either way by up to lr in either implementation.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

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

/// Runs kiln on `g`, writes everything compare.py needs to `dir`, runs it, and returns its JSON line.
nlohmann::json compareWithTorch(const std::string& model, const Graph& g, const TensorMap& inputs, const std::string& dir) {
  TensorMap params = initParameters(g, 11);
  TensorMap feeds = params;
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

}  // namespace kiln
