// safetensors: round trips of every dtype, atomic writes, and conversions to interpreter tensors.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "compiler/HostTensor.h"
#include "ir/Error.h"
#include "runtime/Safetensors.h"
#include "tests/TestUtil.h"

namespace kiln {

TEST_CASE("safetensors round trip of every dtype, through a file") {
  TensorMap m = {{"f", test::tensor(DType::F32, {2, 2}, {1.5, -2, 0, 3.25})},
                 {"d", test::tensor(DType::F64, {3}, {0.1, 1e300, -0.0})},
                 {"i", test::tensor(DType::I32, {2}, {-7, 2147483647})},
                 {"b", test::tensor(DType::Bool, {3}, {1, 0, 1})},
                 {"empty", test::tensor(DType::F32, {0, 4}, {})},
                 {"scalar", test::tensor(DType::F32, {}, {42})}};
  std::string dir = test::tempDir("st");
  std::string path = dir + "/t.safetensors";
  writeSafetensors(path, toStored(m));
  TensorMap back = fromStored(readSafetensors(path));
  REQUIRE(back.size() == m.size());
  for (const auto& [k, v] : m) {
    INFO("tensor ", k);
    CHECK(back.at(k).dtype == v.dtype);
    CHECK(back.at(k).shape == v.shape);
    CHECK(back.at(k).data == v.data);
  }
  // The header is padded to 8 bytes and the first 8 bytes are its little-endian length.
  std::vector<uint8_t> image = serializeSafetensors(toStored(m));
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | image[size_t(i)];
  CHECK((8 + hlen) % 8 == 0);
  // Overwriting is atomic: no temporary files are left behind.
  writeSafetensors(path, toStored(TensorMap{{"only", m.at("f")}}));
  CHECK(fromStored(readSafetensors(path)).size() == 1);
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 1);
  CHECK_THROWS_WITH_AS(writeSafetensors(dir + "/no/such/dir/x.safetensors", toStored(m)),
                       doctest::Contains("cannot create a temporary file"), Error);
  CHECK_THROWS_WITH_AS(readSafetensors(dir + "/missing.safetensors"), doctest::Contains("cannot open file"), Error);
  CHECK_THROWS_WITH_AS(readSafetensors(dir), doctest::Contains("is a directory"), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("I64 and U8 tensors convert to i32, refusing values that do not fit") {
  StoredTensor i64{"I64", {2}, std::vector<uint8_t>(16, 0)};
  i64.bytes[0] = 5;
  i64.bytes[8] = 0xff;  // 255
  CHECK(fromStored(i64, "t").data == std::vector<double>{5, 255});
  CHECK(fromStored(i64, "t").dtype == DType::I32);
  i64.bytes[12] = 1;  // 2^32 + 255
  CHECK_THROWS_WITH_AS(fromStored(i64, "t"), doctest::Contains("does not fit in i32"), Error);
  StoredTensor u8{"U8", {2}, {3, 250}};
  CHECK(fromStored(u8, "u").data == std::vector<double>{3, 250});
}

}  // namespace kiln

namespace kiln {

namespace {
/// The hidden temporaries of writes of `name` in `dir`.
std::vector<std::string> temporaries(const std::string& dir, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind("." + name + ".tmp-", 0) == 0) out.push_back(e.path().filename().string());
  return out;
}
}  // namespace

TEST_CASE("a writer killed with SIGKILL mid-save leaves the old file whole, and the next save removes its temporary") {
  std::string dir = test::tempDir("kill9");
  std::string path = dir + "/ck.safetensors";
  TensorFile small = {{"w", {"F32", {2}, std::vector<uint8_t>(8, 1)}}};
  writeSafetensors(path, small);
  TensorFile big = {{"w", {"F32", {16 << 20}, std::vector<uint8_t>(size_t(64) << 20, 2)}}};  // 64 MB: a slow write
  int killedMidWrite = 0;
  for (int round = 0; round < 6; ++round) {
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // saves in a loop until killed
      for (;;) writeSafetensors(path, big);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + 15 * round));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    killedMidWrite += !temporaries(dir, "ck.safetensors").empty();
    // Whatever moment the kill hit, the file is a whole checkpoint: the first one or a complete big one.
    TensorFile now = readSafetensors(path);
    CHECK((now.at("w").bytes == small.at("w").bytes || now.at("w").bytes.size() == big.at("w").bytes.size()));
    writeSafetensors(path, small);  // the next save: it cleans up after the dead writer
    CHECK(temporaries(dir, "ck.safetensors").empty());
  }
  CHECK(killedMidWrite > 0);  // the kill did land during a write (else the test shows nothing)
  // A temporary of a writer that still runs (this process) is left alone.
  std::string live = dir + "/.ck.safetensors.tmp-" + std::to_string(::getpid()) + "-abcdef";
  { std::ofstream(live) << "x"; }
  writeSafetensors(path, small);
  CHECK(std::filesystem::exists(live));
  std::filesystem::remove_all(dir);
}

}  // namespace kiln
