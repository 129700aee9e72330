// Every model exports, round-trips through .kir and JSON, and evaluates in the interpreter to a finite
// loss near ln(classes) at initialisation; the Fashion-MNIST loader reads Debian's files.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "compiler/HostTensor.h"
#include "compiler/Interpreter.h"
#include "compiler/Pipeline.h"
#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "ir/Json.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "models/FashionMnist.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

int64_t parameterCount(const Graph& g) {
  int64_t n = 0;
  for (NodeId id : g.nodesWithOp(Op::Parameter)) n += g[id].type.numel();
  return n;
}

/// The first `batch` test images and labels, shaped as the model's inputs.
TensorMap fashionFeeds(const Dataset& d, const Graph& g, int64_t batch) {
  HostTensor x(DType::F32, g[*g.findLeaf("x")].type.shape), l(DType::I32, {batch});
  for (int64_t i = 0; i < batch * 784; ++i) x.data[size_t(i)] = d.images[size_t(i)];
  for (int64_t i = 0; i < batch; ++i) l.data[size_t(i)] = d.labels[size_t(i)];
  return {{"x", x}, {"labels", l}};
}

}  // namespace

TEST_CASE("models: parameter counts and default batches") {
  CHECK(parameterCount(findModel("mlp").build(128)) == 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10);
  CHECK(parameterCount(findModel("cnn").build(64)) == 32 * 25 + 32 + 64 * 32 * 25 + 64 + 1024 * 512 + 512 + 5120 + 10);
  CHECK(parameterCount(findModel("gpt").build(16)) == 3216896);
  // BERT: embeddings (vocab + context) w and their LayerNorm 2 w, 12 w^2 + 13 w per layer, the final
  // LayerNorm 2 w, the head's dense w^2 + w and LayerNorm 2 w, and its bias per token.
  int64_t w = 256, v = 257;
  CHECK(parameterCount(findModel("bert").build(16)) == (v + 128) * w + 2 * w + 4 * (12 * w * w + 13 * w) + 2 * w + w * w + w + 2 * w + v);
  CHECK(findModel("mlp").defaultBatch == 128);
  CHECK(findModel("cnn").defaultBatch == 64);
  CHECK(findModel("gpt").defaultBatch == 16);
  CHECK_THROWS_WITH_AS(findModel("resnet"), "error: unknown model 'resnet'; known models: mlp, cnn, gpt, gpt2-124m, bert, gpt-block",
                       Error);
}

TEST_CASE("models: the GPT's settings, its presets and GPT-2 small's 124,439,808 parameters") {
  const ModelSpec& gpt2 = findModel("gpt2-124m");
  CHECK(parameterCount(gpt2.build(1, gpt2.configure("seq=8"))) == 124439808);
  const ModelSpec& gpt = findModel("gpt");
  CHECK(gpt.configure("").str() == "vocab=96, context=128, seq=128, layers=4, heads=4, width=256, dropout=0");
  // Per layer 12 w^2 + 13 w, plus the embeddings (vocab + context) w and the final LayerNorm 2 w.
  auto expected = [](int64_t vocab, int64_t context, int64_t layers, int64_t w) {
    return (vocab + context) * w + layers * (12 * w * w + 13 * w) + 2 * w;
  };
  CHECK(parameterCount(gpt.build(2, gpt.configure("layers=2,width=64,heads=2,vocab=256"))) == expected(256, 128, 2, 64));
  CHECK(expected(50257, 1024, 12, 768) == 124439808);
  CHECK(expected(96, 128, 4, 256) == 3216896);
  Graph shorter = gpt.build(3, gpt.configure("seq=32"));  // positions 0..31 of the 128 embedded
  CHECK(shorter[*shorter.findLeaf("tokens")].type.shape == Shape{3, 32});
  CHECK(parameterCount(shorter) == 3216896);
  CHECK_THROWS_WITH_AS(gpt.configure("depth=3"), doctest::Contains("gpt has no setting 'depth' (its settings: vocab, context"), Error);
  CHECK_THROWS_WITH_AS(gpt.configure("layers=-1"), doctest::Contains("expected layers=N with N a whole number from 0"), Error);
  CHECK_THROWS_WITH_AS(gpt.build(1, gpt.configure("heads=0")), doctest::Contains("the model's setting heads=0 must be in [1, "), Error);
  CHECK_THROWS_WITH_AS(gpt.build(1, gpt.configure("dropout=100")), doctest::Contains("dropout=100 must be in [0, 99]"), Error);
  CHECK(parameterCount(gpt.build(1, gpt.configure("layers=0"))) == expected(96, 128, 0, 256));  // embeddings alone
  CHECK_THROWS_WITH_AS(gpt.build(1, gpt.configure("heads=3")), doctest::Contains("heads=3 must divide width=256"), Error);
  CHECK_THROWS_WITH_AS(findModel("mlp").configure("layers=2"), doctest::Contains("mlp has no setting 'layers' (it has no settings)"),
                       Error);
}

TEST_CASE("models: a GPT-2 small training step compiles and runs, its loss near ln(50257) at initialisation, then lower") {
  const ModelSpec& gpt2 = findModel("gpt2-124m");
  OptimizerOptions o;
  o.kind = "sgd";
  Graph step = addOptimizer(autodiff(gpt2.build(1, gpt2.configure("seq=16"))), o);
  auto session = compileSession(step, 0, test::cachedOptions());
  TensorFile batch = toStored(randomInputs(step, 3));
  double first = session->step(batch);
  double second = session->step(batch);
  // 12 residual blocks at N(0, 0.02) leave the logits a little spread: 11.2 where uniform is 10.82.
  CHECK(std::fabs(first - std::log(50257.0)) < 0.5);
  CHECK(second < first);  // one step of SGD on the batch lowers its loss
}

TEST_CASE("models export, round-trip and give a loss near ln(classes) at initialisation") {
  Dataset test = loadFashionMnist("test");
  struct Case {
    std::string name;
    int64_t batch;
    double expected;
  };
  for (const Case& c : {Case{"mlp", 32, std::log(10.0)}, Case{"cnn", 8, std::log(10.0)}, Case{"gpt", 2, std::log(96.0)}}) {
    INFO("model ", c.name);
    Graph g = findModel(c.name).build(c.batch);
    CHECK(verify(g).empty());
    std::string text = printGraph(g);
    CHECK(printGraph(parseKir(text, c.name)) == text);
    std::string json = graphToJson(g);
    CHECK(printGraph(parseGraph(json, c.name)) == text);
    CHECK(graphToJson(parseGraph(json, c.name)) == json);
    TensorMap feeds = initParameters(g, 0);
    for (auto& [k, v] : (c.name == "gpt" ? randomInputs(g, 0) : fashionFeeds(test, g, c.batch))) feeds[k] = v;
    double loss = evaluate(g, feeds).at("loss").data.at(0);
    CHECK(std::isfinite(loss));
    CHECK(std::fabs(loss - c.expected) < 0.15);
    // Same seed, same parameters: initialisation is deterministic.
    TensorMap p0 = initParameters(g, 0), again = initParameters(g, 0), p1 = initParameters(g, 1);
    bool same = true, differs = false;
    for (auto& [k, v] : p0) same &= v.data == again.at(k).data, differs |= v.data != p1.at(k).data;
    CHECK(same);
    CHECK(differs);
  }
}

TEST_CASE("random inputs respect index ranges derived from the graph") {
  Graph g = findModel("gpt").build(2);
  TensorMap in = randomInputs(g, 3);
  for (const char* name : {"tokens", "targets"}) {
    double lo = 1e9, hi = -1;
    for (double v : in.at(name).data) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(lo >= 0);
    CHECK(hi <= 95);
    CHECK(hi >= 80);  // 256 draws from 96 values reach the top end
  }
  CHECK(indexBound(findModel("mlp").build(4), *findModel("mlp").build(4).findLeaf("labels")) == 10);
}

TEST_CASE("Fashion-MNIST loader") {
  Dataset d = loadFashionMnist("test");
  CHECK(d.count == 10000);
  CHECK(d.images.size() == size_t(10000 * 784));
  CHECK(d.labels[0] == 9);
  CHECK(d.labels[1] == 2);
  std::vector<int> perClass(10, 0);
  for (int32_t l : d.labels) perClass[size_t(l)]++;
  for (int n : perClass) CHECK(n == 1000);
  double mean = 0, sq = 0;
  for (float v : d.images) mean += v, sq += double(v) * v;
  mean /= double(d.images.size());
  double sd = std::sqrt(sq / double(d.images.size()) - mean * mean);
  CHECK(std::fabs(mean) < 0.01);  // (x/255 - 0.2860)/0.3530 standardises the training set; test is close
  CHECK(std::fabs(sd - 1) < 0.01);
  CHECK(d.images[0] == doctest::Approx(-0.2860 / 0.3530));  // a black corner pixel

  std::string dir = test::tempDir("fmnist");
  CHECK_THROWS_WITH_AS(loadFashionMnist("test", dir), doctest::Contains("install Debian's dataset-fashion-mnist"), Error);
  std::ofstream(dir + "/t10k-images-idx3-ubyte.gz") << "this is not an IDX file";
  std::ofstream(dir + "/t10k-labels-idx1-ubyte.gz") << "nor this";
  CHECK_THROWS_WITH_AS(loadFashionMnist("test", dir), doctest::Contains("t10k-images-idx3-ubyte.gz: error: IDX magic"), Error);
  CHECK_THROWS_WITH_AS(loadFashionMnist("valid"), "error: unknown split 'valid': expected train or test", Error);
  std::filesystem::remove_all(dir);
}

}  // namespace kiln
