// safetensors: round trips of every dtype, atomic writes, and conversions to interpreter tensors.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "compiler/HostTensor.h"
#include "ir/Error.h"
#include "runtime/Checkpoint.h"
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
    if (round % 2) {  // kill at a moment set by the clock
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + 15 * round));
    } else {  // kill once a temporary exists, so at least these rounds land mid-write however loaded the machine
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (temporaries(dir, "ck.safetensors").empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
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

namespace kiln {

TEST_CASE("a save onto a full disk fails with a clear error, keeping the old file and leaving no temporary") {
  std::string dir = test::tempDir("full");
  std::string path = dir + "/ck.safetensors";
  TensorFile small = {{"w", {"F32", {2}, std::vector<uint8_t>(8, 1)}}};
  writeSafetensors(path, small);
  // A child whose files may not grow past 64 kB (RLIMIT_FSIZE: writes past it fail as on a full disk).
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    rlimit limit{64 << 10, 64 << 10};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::signal(SIGXFSZ, SIG_IGN);  // the write then returns EFBIG instead of killing the process
    int code = 3;
    try {
      writeSafetensors(path, {{"w", {"F32", {1 << 20}, std::vector<uint8_t>(size_t(4) << 20, 2)}}});
      code = 1;  // it should not have succeeded
    } catch (const Error& e) {
      code = std::string(e.what()).find(path + ": error: cannot write: File too large") == 0 ? 0 : 2;
    }
    std::_Exit(code);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);  // the error named the file and the cause
  CHECK(readSafetensors(path).at("w").bytes == small.at("w").bytes);
  CHECK(temporaries(dir, "ck.safetensors").empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("a save into a read-only file system fails with a clear error") {
  // /proc is read-only even for root, who may write into any folder whatever its mode.
  CHECK_THROWS_WITH_AS(writeSafetensors("/proc/kiln-test.safetensors", {}),
                       doctest::Contains("/proc/kiln-test.safetensors: error: cannot create a temporary file: "), Error);
}

TEST_CASE("a corrupted checkpoint of every kind is refused, naming the file and what is wrong") {
  std::string dir = test::tempDir("corrupt");
  std::vector<TensorSpec> spec = {{"w", "F32", {3}}, {"optimizer.step", "I32", {}}};
  TensorFile good = {{"w", {"F32", {3}, std::vector<uint8_t>(12, 0)}}, {"optimizer.step", {"I32", {}, std::vector<uint8_t>(4, 0)}}};
  std::vector<uint8_t> image = serializeSafetensors(good);
  auto write = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return dir + "/" + name;
  };
  REQUIRE(loadCheckpoint(write("good", image), spec).size() == 2);
  std::vector<uint8_t> flipped = image;
  flipped[8] = 'x';  // the header's opening brace
  TensorFile wrongDtype = good, wrongShape = good, missing = good, extra = good;
  wrongDtype["w"] = {"F64", {3}, std::vector<uint8_t>(24, 0)};
  wrongShape["w"] = {"F32", {4}, std::vector<uint8_t>(16, 0)};
  missing.erase("optimizer.step");
  extra["v"] = {"F32", {1}, std::vector<uint8_t>(4, 0)};
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"empty", {}, "safetensors: file is truncated"},
      {"truncated", std::vector<uint8_t>(image.begin(), image.end() - 5), "lie outside the"},
      {"header only", std::vector<uint8_t>(image.begin(), image.begin() + 20), "runs past the end"},
      {"broken header", flipped, "safetensors: header is not valid JSON"},
      {"wrong dtype", serializeSafetensors(wrongDtype), "checkpoint tensor \"w\" is F64 [3], expected F32 [3]"},
      {"wrong shape", serializeSafetensors(wrongShape), "checkpoint tensor \"w\" is F32 [4], expected F32 [3]"},
      {"missing tensor", serializeSafetensors(missing), "checkpoint has no tensor \"optimizer.step\""},
      {"extra tensor", serializeSafetensors(extra), "checkpoint tensor \"v\" is not a parameter or state of this program"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    std::string path = write(c.name, c.bytes);
    std::string err = "(no error)";
    try {
      loadCheckpoint(path, spec);
    } catch (const Error& e) {
      err = e.what();
    }
    INFO(err);
    CHECK(err.rfind(path + ": error: ", 0) == 0);
    CHECK(err.find(c.expected) != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace kiln
