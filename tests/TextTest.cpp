// Text for the language models: the byte-level tokenizer round-trips any bytes, the corpus splits at its
// documented place, and `kiln train gpt --data text` learns the fortunes below their unigram entropy.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include "compiler/ParamInit.h"
#include "ir/Error.h"
#include "models/TextCorpus.h"
#include "tests/TestUtil.h"

namespace kiln {

TEST_CASE("text: byte-level tokens decode back to the text, whatever its bytes") {
  std::string every;
  for (int b = 0; b < 256; ++b) every += char(b);
  std::vector<int32_t> t = ByteTokenizer::encode(every);
  REQUIRE(t.size() == 256);
  CHECK(t[0] == 0);
  CHECK(t[255] == 255);
  CHECK(ByteTokenizer::decode(t) == every);
  Rng rng(17);
  for (int round = 0; round < 50; ++round) {
    std::string text(size_t(rng.next() % 300), '\0');
    for (char& c : text) c = char(rng.next() % 256);
    CHECK(ByteTokenizer::decode(ByteTokenizer::encode(text)) == text);
  }
  CHECK(ByteTokenizer::decode(ByteTokenizer::encode("naïve — ok\n")) == "naïve — ok\n");
  CHECK_THROWS_WITH_AS(ByteTokenizer::decode({65, 256}), doctest::Contains("token 256 at 1 is not a byte"), Error);
}

TEST_CASE("text: a corpus splits 90% / 10% by bytes, and a missing, short or odd source is an error naming it") {
  std::string dir = test::tempDir("text");
  std::string path = dir + "/corpus.txt";
  std::ofstream(path, std::ios::binary) << std::string(1000, 'a') << std::string(100, 'b');
  TextCorpus c = loadTextCorpus("text:" + path, "test", 10);
  CHECK(c.name == path);
  CHECK(c.train.size() == 990);
  CHECK(c.validation.size() == 110);
  CHECK(c.validation.back() == 'b');
  CHECK(std::fabs(c.unigramEntropy()) < 1e-12);  // the training split is one byte repeated
  CHECK_THROWS_WITH_AS(loadTextCorpus("text:" + path, "test", 200), doctest::Contains("1100 bytes of text are too few"), Error);
  CHECK_THROWS_WITH_AS(loadTextCorpus("text:" + dir + "/nope.txt", "test", 1), doctest::Contains("no such file"), Error);
  CHECK_THROWS_WITH_AS(loadTextCorpus("text:" + dir, "test", 1), doctest::Contains("not a regular file"), Error);
  CHECK_THROWS_WITH_AS(loadTextCorpus("txt", "test", 1), doctest::Contains("expected text or text:PATH"), Error);
  TextCorpus fortunes = loadTextCorpus("text", "test", 1000);  // Debian's fortunes, installed by the set-up
  CHECK(fortunes.name == "fortunes");
  CHECK(fortunes.train.size() > 1000000);
  size_t bytes = fortunes.train.size() + fortunes.validation.size();
  CHECK(fortunes.train.size() == bytes * 9 / 10);
  double h = fortunes.unigramEntropy();
  CHECK(h > 2.5);  // English bytes: about 3.3 nats
  CHECK(h < 4.0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("kiln train gpt --data text: a small GPT gets under the fortunes' unigram entropy in 300 steps") {
  test::CliResult r = test::runKiln(
      "train gpt --data text --set layers=2,width=128,heads=4,seq=64 --batch 16 --steps 300 --log-every 100 --optimizer "
      "adamw --lr 0.003 --eval-limit 256");
  INFO(r.out, r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("training gpt (vocab=256, context=128, seq=64, layers=2, heads=4, width=128) on text fortunes") !=
        std::string::npos);
  CHECK(r.err.find("tok/s") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, std::regex(R"(epoch 1: validation loss ([0-9.]+) \(.*unigram entropy ([0-9.]+); 256 windows of 64\))")));
  double loss = std::stod(m[1]), entropy = std::stod(m[2]);
  CHECK(loss < entropy - 0.4);  // measured: 2.67 against 3.32
}

TEST_CASE("kiln train: a data source that does not fit the model is an error naming both") {
  test::CliResult images = test::runKiln("train gpt --data fashion-mnist --steps 1");
  CHECK(images.status == 1);
  CHECK(images.err.find("--data fashion-mnist feeds images x and labels; the model has no input \"x\"") != std::string::npos);
  test::CliResult text = test::runKiln("train mlp --data text --steps 1");
  CHECK(text.status == 1);
  CHECK(text.err.find("--data text feeds byte-level tokens and targets; the model has no input \"tokens\"") != std::string::npos);
  test::CliResult vocab = test::runKiln("train gpt --data text --set vocab=96,layers=1 --steps 1");
  CHECK(vocab.status == 1);
  CHECK(vocab.err.find("the model's vocabulary is 96; give --set vocab=256") != std::string::npos);
  test::CliResult none = test::runKiln("train gpt --steps 1");
  CHECK(none.err.find("--data is required: fashion-mnist[:DIR] or text[:PATH]") != std::string::npos);
}

}  // namespace kiln
