// Types, the op table's lookups and error formatting.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ir/Error.h"
#include "ir/Ops.h"
#include "ir/Types.h"

namespace kiln {

TEST_CASE("types: names, sizes and validity") {
  for (DType t : {DType::F32, DType::F64, DType::I32, DType::Bool}) CHECK(parseDType(dtypeName(t)) == t);
  CHECK(!parseDType("f16"));
  CHECK(Type{DType::F32, {128, 784}}.str() == "f32[128,784]");
  CHECK(Type{DType::Bool, {}}.str() == "bool[]");
  CHECK(Type{DType::F64, {3, 4}}.bytes() == 96);
  CHECK(checkType({DType::F32, {1, 2, 3, 4, 5, 6}}) == "");
  CHECK(checkType({DType::F32, {1, 2, 3, 4, 5, 6, 7}}) == "rank 7 exceeds the maximum rank 6");
  CHECK(checkType({DType::F32, {2, -1}}) == "dimension -1 in [2,-1] is negative");
  CHECK(checkType({DType::F32, {int64_t(1) << 46}}) == "");
  CHECK(checkType({DType::F32, {int64_t(1) << 47}}) == "f32[140737488355328] is too large: its byte size exceeds 2^48");
  // Products that overflow int64 are caught, not wrapped; zero dims do not hide a huge neighbour.
  CHECK(checkType({DType::F32, {INT64_MAX, INT64_MAX}}) != "");
  CHECK(checkType({DType::F32, {0, INT64_MAX}}) != "");
  CHECK(stridesOf({2, 3, 4}) == std::vector<int64_t>{12, 4, 1});
}

TEST_CASE("op table: every op's name parses back and its attributes have a kind") {
  for (Op op : allOps()) {
    CHECK(parseOp(opName(op)) == op);
    CHECK(!opName(op).empty());
  }
  CHECK(!parseOp("nope"));
  for (Init i : {Init::Zeros, Init::Ones, Init::Normal, Init::Uniform, Init::HeUniform, Init::HeNormal,
                 Init::XavierUniform, Init::XavierNormal})
    CHECK(parseInit(initName(i)) == i);
}

TEST_CASE("errors print as file:line:col: error: message") {
  CHECK(std::string(Error(Location{"a.kir", 3, 7}, "bad").what()) == "a.kir:3:7: error: bad");
  CHECK(std::string(Error(Location{"a.kir", 0, 0}, "bad").what()) == "a.kir: error: bad");
  CHECK(std::string(Error("bad").what()) == "error: bad");
  CHECK(std::string(Error("bad").withLocation({"x", 1, 2}).what()) == "x:1:2: error: bad");
}

}  // namespace kiln

namespace kiln {

// CTest takes a test's name as a list, so a ';' in a doctest case name splits it into tests that filter
// nothing and pass without running: names must not contain one.
TEST_CASE("test case names contain no semicolons") {
  namespace fs = std::filesystem;
  int cases = 0;
  for (const auto& e : fs::directory_iterator(std::string(KILN_SOURCE_DIR) + "/tests")) {
    if (e.path().extension() != ".cpp") continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line)) {
      size_t at = line.find("TEST_CASE(\"");
      if (at != 0) continue;
      cases++;
      std::string name = line.substr(11, line.find("\")") - 11);
      INFO(e.path().filename().string(), ": ", name);
      CHECK(name.find(';') == std::string::npos);
    }
  }
  CHECK(cases > 40);
}

}  // namespace kiln
