// The DSL: broadcasting, scalars, and errors that point at the user's line.
#include <doctest/doctest.h>

#include "compiler/Interpreter.h"
#include "ir/Builder.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "tests/TestUtil.h"

namespace kiln {

TEST_CASE("DSL inserts explicit broadcasts and scalar constants") {
  Builder b("t");
  Value x = b.input("x", {DType::F32, {2, 3}});
  Value v = b.input("v", {DType::F32, {3}});
  b.output("y", x * v + 1.0);
  Graph g = b.finish();
  CHECK(verify(g).empty());
  CHECK(printGraph(g) ==
        "kiln 1\ngraph \"t\"\n"
        "%0 = input {name=\"x\"} : f32[2,3]\n"
        "%1 = input {name=\"v\"} : f32[3]\n"
        "%2 = broadcast %1 : f32[2,3]\n"
        "%3 = mul %0, %2 : f32[2,3]\n"
        "%4 = constant {values=[1]} : f32[]\n"
        "%5 = broadcast %4 : f32[2,3]\n"
        "%6 = add %3, %5 : f32[2,3]\n"
        "output \"y\" = %6\n");
  TensorMap out = evaluate(g, {{"x", test::tensor(DType::F32, {2, 3}, {1, 2, 3, 4, 5, 6})},
                               {"v", test::tensor(DType::F32, {3}, {1, 0, -1})}});
  CHECK(out.at("y").data == std::vector<double>{2, 1, -2, 5, 1, -5});
}

TEST_CASE("DSL errors name the op, the shapes and the user's line") {
  Builder b("t");
  Value x = b.input("x", {DType::F32, {2, 3}});
  Value y = b.input("y", {DType::F32, {4}});
  int line = __LINE__ + 2;
  try {
    Value z = x + y;
    (void)z;
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.location().file.find("BuilderTest.cpp") != std::string::npos);
    CHECK(e.location().line == line);
    CHECK(e.message() == "add: cannot broadcast shapes [2,3] and [4]");
  }
  line = __LINE__ + 2;
  try {
    matmul(x, x);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.location().line == line);
    CHECK(e.message() == "matmul: contracted dimensions differ: 3 vs 2 (operands: f32[2,3], f32[2,3])");
  }
  line = __LINE__ + 2;
  try {
    linear(x, y);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.location().line == line);
    CHECK(e.message() == "linear: x f32[2,3] needs weight [out, 3], got f32[4]");
  }
  Value labels = b.input("labels", {DType::F32, {2}});
  CHECK_THROWS_WITH_AS(crossEntropy(x, labels), doctest::Contains("cross_entropy: expects logits [N, C] and labels i32[N]"), Error);
  CHECK_THROWS_WITH_AS(b.input("x", {DType::F32, {1}}), doctest::Contains("input: the name \"x\" is taken"), Error);
  CHECK_THROWS_WITH_AS(reshape(x, {4, -1}), doctest::Contains("reshape: cannot infer -1 in [4,-1] from f32[2,3]"), Error);
  CHECK_THROWS_WITH_AS(sum(x, {2}), doctest::Contains("reduce_sum: axis 2 is out of range for rank 2"), Error);
  CHECK_THROWS_WITH_AS(exp(b.input("i", {DType::I32, {2}})), doctest::Contains("exp: operand 0 must be f32 or f64"), Error);
  // An empty Value (declared, never assigned) is an error wherever it is used; it once became the number 0.
  Value unset;
  line = __LINE__ + 2;
  try {
    Value z = x + unset;
    (void)z;
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.location().line == line);
    CHECK(e.message() == kEmptyValue);
  }
  CHECK_THROWS_WITH_AS(exp(unset), doctest::Contains(kEmptyValue), Error);
  CHECK_THROWS_WITH_AS(matmul(unset, x), doctest::Contains(kEmptyValue), Error);
  CHECK_THROWS_WITH_AS(b.output("u", unset), doctest::Contains((std::string("output \"u\": ") + kEmptyValue).c_str()), Error);
  Builder other("other");
  CHECK_THROWS_WITH_AS(b.output("o", other.input("x", {DType::F32, {1}})), doctest::Contains("output \"o\": the value is from another graph"), Error);
}

TEST_CASE("DSL helpers: negative axes, reshape -1, transpose") {
  Builder b("t");
  Value x = b.input("x", {DType::F32, {2, 3, 4}});
  CHECK(reshape(x, {-1, 4}).shape() == Shape{6, 4});
  CHECK(transpose(x, 0, -1).shape() == Shape{4, 3, 2});
  CHECK(sum(x, {-1}, true).shape() == Shape{2, 3, 1});
  CHECK(mean(x, {0, 1}).shape() == Shape{4});
  CHECK(sliceAxis(x, -2, 1, 3).shape() == Shape{2, 2, 4});
  CHECK(x.dim(-1) == 4);
}

}  // namespace kiln
