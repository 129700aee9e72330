// Generation: the incremental decoder with its key/value caches gives the logits of the whole prefix, the
// sampler draws as documented, and `kiln generate` continues a prompt reproducibly from a checkpoint.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "compiler/HostTensor.h"
#include "compiler/InterpSession.h"
#include "compiler/Pipeline.h"
#include "ir/Error.h"
#include "models/Models.h"
#include "runtime/Generator.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

ModelConfig tinyGpt() {
  return {{{"vocab", 32}, {"context", 12}, {"seq", 12}, {"layers", 2}, {"heads", 2}, {"width", 16}, {"dropout", 0}}};
}

/// The decoder's logits at positions 0..n-1 of `tokens` beside the full program's logits of the same prefix,
/// both sessions of engine `jit` (else the interpreter) with the decoder's parameters copied from the full one.
double decoderAgainstPrefix(bool jit, const std::vector<int32_t>& tokens) {
  int64_t n = int64_t(tokens.size());
  Graph full = buildGptLogits(1, n, tinyGpt()), step = buildGptDecoder(1, tinyGpt());
  auto make = [&](const Graph& g) -> std::unique_ptr<Session> {
    if (jit) return compileSession(g, 5, test::cachedOptions());
    return std::make_unique<InterpSession>(g, 5);
  };
  std::unique_ptr<Session> whole = make(full), dec = make(step);
  for (const auto& [name, t] : whole->state()) dec->setState(name, t);
  std::vector<double> ids(tokens.begin(), tokens.end());
  HostTensor in = test::tensor(DType::I32, {1, n}, ids);
  HostTensor expect = fromStored(whole->run({{"tokens", toStored(in)}}).at("logits"), "logits");  // [1, n, 32]
  Generator gen(std::move(dec), 12);
  double worst = 0;
  for (int64_t t = 0; t < n; ++t) {
    std::vector<double> got = gen.feed(tokens[size_t(t)]);
    REQUIRE(got.size() == 32);
    std::vector<double> want(expect.data.begin() + t * 32, expect.data.begin() + (t + 1) * 32);
    worst = std::max(worst, test::maxRelError(got, want, 1e-3));
  }
  CHECK(gen.position() == n);
  return worst;
}

}  // namespace

TEST_CASE("generate: the cached decoder gives the logits of recomputing the whole prefix (JIT and interpreter)") {
  std::vector<int32_t> tokens{3, 17, 0, 31, 5, 5, 22, 9, 1, 30, 12, 7};  // the whole context of 12
  CHECK(decoderAgainstPrefix(true, tokens) < 1e-4);
  CHECK(decoderAgainstPrefix(false, tokens) < 1e-5);
}

TEST_CASE("generate: the decoder refuses a position past the context") {
  Graph step = buildGptDecoder(1, tinyGpt());
  Generator gen(std::make_unique<InterpSession>(step, 1), 12);
  for (int i = 0; i < 12; ++i) gen.feed(i);
  CHECK_THROWS_WITH_AS(gen.feed(0), doctest::Contains("position 12 is past the model's context of 12 tokens"), Error);
}

TEST_CASE("generate: temperature 0 is argmax, top-k keeps the k most likely, and u walks the distribution") {
  std::vector<double> logits{0.5, 2.0, -1.0, 2.0, 1.0};
  for (double u : {0.0, 0.3, 0.999}) CHECK(sampleToken(logits, {0.0, 0}, u) == 1);  // the first of equals
  for (double u : {0.0, 0.49, 0.51, 0.999}) {
    int64_t t = sampleToken(logits, {1.0, 2}, u);
    CHECK((t == 1 || t == 3));
  }
  CHECK(sampleToken(logits, {1.0, 2}, 0.25) == 1);
  CHECK(sampleToken(logits, {1.0, 2}, 0.75) == 3);
  std::vector<double> two{0.0, std::log(3.0)};  // probabilities 1/4 and 3/4
  CHECK(sampleToken(two, {1.0, 0}, 0.2499) == 0);
  CHECK(sampleToken(two, {1.0, 0}, 0.2501) == 1);
  // A high temperature flattens: at T = 1000, probabilities are about 1/2 each.
  CHECK(sampleToken(two, {1000.0, 0}, 0.49) == 0);
  CHECK(sampleToken(two, {1000.0, 0}, 0.51) == 1);
  // Frequencies over many draws follow softmax.
  int64_t ones = 0;
  for (int i = 0; i < 4000; ++i) ones += sampleToken(two, {1.0, 0}, (i + 0.5) / 4000.0);
  CHECK(ones == 3000);
  CHECK_THROWS_AS(sampleToken({}, {}, 0.5), Error);
}

TEST_CASE("kiln generate: a trained checkpoint continues a prompt, reproducibly from the seed") {
  std::string dir = test::tempDir("generate");
  std::string ckpt = dir + "/gpt.ckpt";
  test::CliResult train = test::runKiln("train gpt --data text --set layers=1,width=32,heads=2,seq=32,context=48 --batch 4 "
                                        "--steps 20 --optimizer adamw --lr 0.01 --eval-limit 8 --save " + ckpt);
  INFO(train.out, train.err);
  REQUIRE(train.status == 0);
  auto gen = [&](const std::string& flags) { return test::runKiln("generate " + ckpt + " --prompt 'Once ' " + flags); };
  test::CliResult a = gen("--tokens 30 --seed 1"), b = gen("--tokens 30 --seed 1"), c = gen("--tokens 30 --seed 2");
  INFO(a.out, a.err);
  REQUIRE(a.status == 0);
  CHECK(a.out.size() == 5 + 30 + 1);  // the prompt, one byte per token, a newline
  CHECK(a.out.rfind("Once ", 0) == 0);
  CHECK(a.err.find("generated: 30 tokens in") != std::string::npos);
  CHECK(a.err.find("tokens/s") != std::string::npos);
  CHECK(a.out == b.out);
  CHECK(a.out != c.out);
  test::CliResult g1 = gen("--tokens 30 --temperature 0 --seed 1"), g2 = gen("--tokens 30 --temperature 0 --seed 9");
  CHECK(g1.status == 0);
  CHECK(g1.out == g2.out);  // greedy decoding ignores the seed
  test::CliResult interp = gen("--tokens 30 --temperature 0 --engine interp");
  CHECK(interp.out == g1.out);
  test::CliResult longPrompt = test::runKiln("generate " + ckpt + " --prompt '" + std::string(49, 'x') + "'");
  CHECK(longPrompt.status == 1);
  CHECK(longPrompt.err.find("the prompt is 49 tokens, longer than the model's context of 48") != std::string::npos);
  test::CliResult tooMany = gen("--tokens 44");
  CHECK(tooMany.status == 1);
  CHECK(tooMany.err.find("the prompt's 5 tokens and --tokens 44 make 49, more than the model's context of 48") != std::string::npos);
  test::CliResult badT = gen("--temperature -1");
  CHECK(badT.status == 1);
  CHECK(badT.err.find("--temperature expects a number in [0, 1000000], got '-1'") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln generate: a checkpoint that names no model, or a model that is not a language model, is an error") {
  std::string dir = test::tempDir("generate-bad");
  std::string ckpt = dir + "/mlp.ckpt";
  REQUIRE(test::runKiln("train mlp --data fashion-mnist --steps 1 --eval-limit 100 --save " + ckpt).status == 0);
  test::CliResult mlp = test::runKiln("generate " + ckpt);
  CHECK(mlp.status == 1);
  CHECK(mlp.err.find("model mlp is not a language model: it cannot generate") != std::string::npos);
  saveCheckpoint(dir + "/bare.ckpt", {});
  test::CliResult bare = test::runKiln("generate " + dir + "/bare.ckpt");
  CHECK(bare.status == 1);
  CHECK(bare.err.find("the checkpoint does not name its model") != std::string::npos);
  test::CliResult wrong = test::runKiln("generate " + ckpt + " --model gpt --set vocab=256");  // the MLP's weights
  INFO(wrong.err);
  CHECK(wrong.status == 1);
  CHECK(wrong.err.find("mlp.ckpt: error: checkpoint has no tensor \"wte.weight\"") != std::string::npos);
  test::CliResult missing = test::runKiln("generate " + dir + "/nope.ckpt");
  CHECK(missing.status == 1);
  CHECK(missing.err.find("cannot open file") != std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace kiln
