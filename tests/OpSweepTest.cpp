// The op sweep: for every op of the table, a small graph with hand-computed expected values. Each case is
// evaluated by the interpreter (in f32 as declared and in f64), printed and re-parsed, written to JSON
// and read back. A final check fails when an op of the table (other than a unary op, which
// tests/OpTableTest.cpp checks from the table) has no case here.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "compiler/Interpreter.h"
#include "ir/Error.h"
#include "ir/Json.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "tests/OpCases.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

using test::tensor;

const DType F = DType::F32, I = DType::I32, B = DType::Bool;

std::string unaryBody(const char* op) {
  return fmt::format("%0 = input {{name=\"a\"}} : f32[3]\n%1 = {} %0 : f32[3]\noutput \"y\" = %1\n", op);
}
std::string binaryBody(const char* op, const char* out = "f32") {
  return fmt::format("%0 = input {{name=\"a\"}} : f32[3]\n%1 = input {{name=\"b\"}} : f32[3]\n"
                     "%2 = {} %0, %1 : {}[3]\noutput \"y\" = %2\n", op, out);
}
TensorMap ab(std::vector<double> a, std::vector<double> b) {
  return {{"a", tensor(F, {3}, std::move(a))}, {"b", tensor(F, {3}, std::move(b))}};
}
TensorMap a3(std::vector<double> a) { return {{"a", tensor(F, {3}, std::move(a))}}; }

}  // namespace

namespace {

/// The leaves and the element-wise ops.
std::vector<OpCase> elementwiseCases() {
  TensorMap cmp = ab({1, 2, 3}, {2, 2, 2});
  return {
      {Op::Input, "%0 = input {name=\"a\"} : f32[3]\noutput \"y\" = %0\n", a3({1, -2, 3}), F, {1, -2, 3}},
      {Op::Parameter, "%0 = parameter {name=\"p\", init=zeros, scale=0} : f32[2]\noutput \"y\" = %0\n",
       {{"p", tensor(F, {2}, {0.25, -4})}}, F, {0.25, -4}},
      {Op::State, "%0 = state {name=\"s\", init=zeros, scale=0} : i32[2]\noutput \"y\" = %0\n",
       {{"s", tensor(I, {2}, {3, 4})}}, I, {3, 4}},
      {Op::Constant, "%0 = constant {values=[1.5,-2,0,7]} : f32[2,2]\noutput \"y\" = %0\n", {}, F, {1.5, -2, 0, 7}},
      {Op::Iota, "%0 = iota {axis=1} : i32[2,3]\noutput \"y\" = %0\n", {}, I, {0, 1, 2, 0, 1, 2}},
      {Op::Neg, unaryBody("neg"), a3({1, -2, 0}), F, {-1, 2, 0}},
      {Op::Abs, unaryBody("abs"), a3({-1.5, 2, 0}), F, {1.5, 2, 0}},
      {Op::Exp, unaryBody("exp"), a3({0, 1, -1}), F, {1, 2.718281828459045, 0.36787944117144233}},
      {Op::Log, unaryBody("log"), a3({1, 2.718281828459045, 0.5}), F, {0, 1, -0.6931471805599453}},
      {Op::Sqrt, unaryBody("sqrt"), a3({4, 2, 0}), F, {2, 1.4142135623730951, 0}},
      {Op::Rsqrt, unaryBody("rsqrt"), a3({4, 0.25, 1}), F, {0.5, 2, 1}},
      {Op::Tanh, unaryBody("tanh"), a3({0, 1, -2}), F, {0, 0.7615941559557649, -0.9640275800758169}},
      {Op::Sigmoid, unaryBody("sigmoid"), a3({0, 2, -2}), F, {0.5, 0.8807970779778823, 0.11920292202211755}},
      {Op::Erf, unaryBody("erf"), a3({0, 1, -0.5}), F, {0, 0.8427007929497149, -0.5204998778130465}},
      {Op::Sin, unaryBody("sin"), a3({0, M_PI / 2, -M_PI / 6}), F, {0, 1, -0.5}},
      {Op::Cos, unaryBody("cos"), a3({0, M_PI, M_PI / 3}), F, {1, -1, 0.5}},
      {Op::Add, binaryBody("add"), ab({1, 2, 3}, {4, 5, 6}), F, {5, 7, 9}},
      {Op::Sub, binaryBody("sub"), ab({1, 2, 3}, {4, 5, 7}), F, {-3, -3, -4}},
      {Op::Mul, binaryBody("mul"), ab({1, -2, 3}, {4, 5, 0.5}), F, {4, -10, 1.5}},
      {Op::Div, binaryBody("div"), ab({1, 2, 3}, {4, 5, 6}), F, {0.25, 0.4, 0.5}},
      {Op::Max, binaryBody("max"), ab({1, 5, -3}, {4, 2, -6}), F, {4, 5, -3}},
      {Op::Min, binaryBody("min"), ab({1, 5, -3}, {4, 2, -6}), F, {1, 2, -6}},
      {Op::Pow, binaryBody("pow"), ab({2, 9, 4}, {3, 0.5, -1}), F, {8, 3, 0.25}},
      // Random123's known answer for Philox2x32-10, counter (0, 0) and key 0: 0xff1dae59; then (-1, -1) and (1, 0).
      {Op::Philox,
       "%0 = input {name=\"a\"} : i32[3]\n%1 = input {name=\"b\"} : i32[3]\n%2 = philox %0, %1 : i32[3]\noutput \"y\" = %2\n",
       {{"a", tensor(I, {3}, {0, -1, 1})}, {"b", tensor(I, {3}, {0, -1, 0})}}, I, {-14832039, 1428173101, -589502379}},
      {Op::Eq, binaryBody("eq", "bool"), cmp, B, {0, 1, 0}},
      {Op::Ne, binaryBody("ne", "bool"), cmp, B, {1, 0, 1}},
      {Op::Lt, binaryBody("lt", "bool"), cmp, B, {1, 0, 0}},
      {Op::Le, binaryBody("le", "bool"), cmp, B, {1, 1, 0}},
      {Op::Gt, binaryBody("gt", "bool"), cmp, B, {0, 0, 1}},
      {Op::Ge, binaryBody("ge", "bool"), cmp, B, {0, 1, 1}},
      {Op::Select,
       "%0 = input {name=\"c\"} : bool[3]\n%1 = input {name=\"a\"} : f32[3]\n%2 = input {name=\"b\"} : f32[3]\n"
       "%3 = select %0, %1, %2 : f32[3]\noutput \"y\" = %3\n",
       {{"c", tensor(B, {3}, {1, 0, 1})}, {"a", tensor(F, {3}, {1, 2, 3})}, {"b", tensor(F, {3}, {4, 5, 6})}}, F, {1, 5, 3}},
      {Op::Cast, "%0 = input {name=\"a\"} : f32[3]\n%1 = cast %0 : i32[3]\noutput \"y\" = %1\n", a3({1.7, -1.7, 0}), I, {1, -1, 0}},
  };
}

/// Movement, reductions and matmul.
std::vector<OpCase> structuralCases() {
  return {
      {Op::Broadcast, "%0 = input {name=\"a\"} : f32[3]\n%1 = broadcast %0 : f32[2,3]\noutput \"y\" = %1\n",
       a3({1, 2, 3}), F, {1, 2, 3, 1, 2, 3}},
      {Op::Reshape, "%0 = input {name=\"a\"} : f32[2,3]\n%1 = reshape %0 : f32[3,2]\noutput \"y\" = %1\n",
       {{"a", tensor(F, {2, 3}, {1, 2, 3, 4, 5, 6})}}, F, {1, 2, 3, 4, 5, 6}},
      {Op::Permute, "%0 = input {name=\"a\"} : f32[2,3]\n%1 = permute %0 {perm=[1,0]} : f32[3,2]\noutput \"y\" = %1\n",
       {{"a", tensor(F, {2, 3}, {1, 2, 3, 4, 5, 6})}}, F, {1, 4, 2, 5, 3, 6}},
      {Op::Slice, "%0 = input {name=\"a\"} : f32[2,3]\n%1 = slice %0 {start=[0,1], stop=[2,3]} : f32[2,2]\noutput \"y\" = %1\n",
       {{"a", tensor(F, {2, 3}, {1, 2, 3, 4, 5, 6})}}, F, {2, 3, 5, 6}},
      {Op::Concat,
       "%0 = input {name=\"a\"} : f32[2,1]\n%1 = input {name=\"b\"} : f32[2,2]\n%2 = concat %0, %1 {axis=1} : f32[2,3]\n"
       "output \"y\" = %2\n",
       {{"a", tensor(F, {2, 1}, {1, 2})}, {"b", tensor(F, {2, 2}, {3, 4, 5, 6})}}, F, {1, 3, 4, 2, 5, 6}},
      {Op::Pad, "%0 = input {name=\"a\"} : f32[2]\n%1 = pad %0 {lo=[1], hi=[2], value=9} : f32[5]\noutput \"y\" = %1\n",
       {{"a", tensor(F, {2}, {1, 2})}}, F, {9, 1, 2, 9, 9}},
      {Op::ReduceSum, "%0 = input {name=\"a\"} : f32[2,3]\n%1 = reduce_sum %0 {axes=[1]} : f32[2]\noutput \"y\" = %1\n",
       {{"a", tensor(F, {2, 3}, {1, 2, 3, 4, 5, 6})}}, F, {6, 15}},
      {Op::ReduceMax,
       "%0 = input {name=\"a\"} : f32[2,3]\n%1 = reduce_max %0 {axes=[0], keepdims} : f32[1,3]\noutput \"y\" = %1\n",
       {{"a", tensor(F, {2, 3}, {1, 7, 3, 4, 5, -6})}}, F, {4, 7, 3}},
      {Op::Matmul,
       "%0 = input {name=\"a\"} : f32[2,3]\n%1 = input {name=\"b\"} : f32[3,2]\n%2 = matmul %0, %1 : f32[2,2]\n"
       "output \"y\" = %2\n",
       {{"a", tensor(F, {2, 3}, {1, 2, 3, 4, 5, 6})}, {"b", tensor(F, {3, 2}, {7, 8, 9, 10, 11, 12})}}, F,
       {58, 64, 139, 154}},
  };
}

/// Convolution, the windows and their gradients, and indexing.
std::vector<OpCase> windowCases() {
  return {
      // x = 1..9 in a 3x3 image, w = [[1,0],[0,-1]]: y[i,j] = x[i,j] - x[i+1,j+1] = -4 everywhere.
      {Op::Conv2d,
       "%0 = input {name=\"x\"} : f32[1,1,3,3]\n%1 = input {name=\"w\"} : f32[1,1,2,2]\n"
       "%2 = conv2d %0, %1 {stride=[1,1], padding=[0,0]} : f32[1,1,2,2]\noutput \"y\" = %2\n",
       {{"x", tensor(F, {1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})}, {"w", tensor(F, {1, 1, 2, 2}, {1, 0, 0, -1})}}, F,
       {-4, -4, -4, -4}},
      {Op::MaxPool2d,
       "%0 = input {name=\"x\"} : f32[1,1,4,4]\n%1 = max_pool2d %0 {kernel=[2,2], stride=[2,2], padding=[0,0]} : f32[1,1,2,2]\n"
       "output \"y\" = %1\n",
       {{"x", tensor(F, {1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})}}, F, {6, 8, 14, 16}},
      {Op::AvgPool2d,
       "%0 = input {name=\"x\"} : f32[1,1,4,4]\n%1 = avg_pool2d %0 {kernel=[2,2], stride=[2,2], padding=[0,0]} : f32[1,1,2,2]\n"
       "output \"y\" = %1\n",
       {{"x", tensor(F, {1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})}}, F, {3.5, 5.5, 11.5, 13.5}},
      // dx[h,w] = sum gy[oh,ow] * w[h-oh, w-ow]: gy lands at (oh,ow) and, negated, at (oh+1,ow+1).
      {Op::Conv2dGradInput,
       "%0 = input {name=\"g\"} : f32[1,1,2,2]\n%1 = input {name=\"w\"} : f32[1,1,2,2]\n"
       "%2 = conv2d_grad_input %0, %1 {stride=[1,1], padding=[0,0]} : f32[1,1,3,3]\noutput \"y\" = %2\n",
       {{"g", tensor(F, {1, 1, 2, 2}, {1, 2, 3, 4})}, {"w", tensor(F, {1, 1, 2, 2}, {1, 0, 0, -1})}}, F,
       {1, 2, 0, 3, 3, -2, 0, -3, -4}},
      // dw[kh,kw] = x[kh,kw] + x[1+kh,1+kw] for gy = identity 2x2.
      {Op::Conv2dGradWeight,
       "%0 = input {name=\"x\"} : f32[1,1,3,3]\n%1 = input {name=\"g\"} : f32[1,1,2,2]\n"
       "%2 = conv2d_grad_weight %0, %1 {stride=[1,1], padding=[0,0]} : f32[1,1,2,2]\noutput \"y\" = %2\n",
       {{"x", tensor(F, {1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9})}, {"g", tensor(F, {1, 1, 2, 2}, {1, 0, 0, 1})}}, F,
       {6, 8, 12, 14}},
      // The second window ties (2, 2, 2): its gradient goes to the first maximum in row-major order.
      {Op::MaxPool2dGrad,
       "%0 = input {name=\"x\"} : f32[1,1,2,4]\n%1 = input {name=\"g\"} : f32[1,1,1,2]\n"
       "%2 = max_pool2d_grad %0, %1 {kernel=[2,2], stride=[2,2], padding=[0,0]} : f32[1,1,2,4]\noutput \"y\" = %2\n",
       {{"x", tensor(F, {1, 1, 2, 4}, {1, 5, 2, 2, 3, 0, 2, 1})}, {"g", tensor(F, {1, 1, 1, 2}, {10, 20})}}, F,
       {0, 10, 20, 0, 0, 0, 0, 0}},
      {Op::AvgPool2dGrad,
       "%0 = input {name=\"g\"} : f32[1,1,1,2]\n"
       "%1 = avg_pool2d_grad %0 {kernel=[2,2], stride=[2,2], padding=[0,0]} : f32[1,1,2,4]\noutput \"y\" = %1\n",
       {{"g", tensor(F, {1, 1, 1, 2}, {4, 8})}}, F, {1, 1, 2, 2, 1, 1, 2, 2}},
      {Op::Gather,
       "%0 = input {name=\"t\"} : f32[3,2]\n%1 = input {name=\"i\"} : i32[2]\n%2 = gather %0, %1 : f32[2,2]\noutput \"y\" = %2\n",
       {{"t", tensor(F, {3, 2}, {1, 2, 3, 4, 5, 6})}, {"i", tensor(I, {2}, {2, 0})}}, F, {5, 6, 1, 2}},
      {Op::ScatterAdd,
       "%0 = input {name=\"i\"} : i32[3]\n%1 = input {name=\"s\"} : f32[3,2]\n%2 = scatter_add %0, %1 : f32[3,2]\n"
       "output \"y\" = %2\n",
       {{"i", tensor(I, {3}, {0, 2, 0})}, {"s", tensor(F, {3, 2}, {1, 2, 3, 4, 5, 6})}}, F, {6, 8, 0, 0, 3, 4}},
  };
}

}  // namespace

std::vector<OpCase> opCases() {
  std::vector<OpCase> all = elementwiseCases();
  for (auto more : {structuralCases, windowCases})
    for (OpCase& c : more()) all.push_back(std::move(c));
  return all;
}

TEST_CASE("op sweep: every op evaluates to hand-computed values and round-trips") {
  for (const OpCase& c : opCases()) {
    std::string name(opName(c.op));
    INFO("op ", name);
    Graph g = parseKir("kiln 1\n" + c.body, name);
    CHECK(verify(g).empty());
    // The op under test is really in the graph.
    CHECK(g.nodesWithOp(c.op).size() >= 1);
    for (Precision p : {Precision::Declared, Precision::F64}) {
      HostTensor y = evaluate(g, c.feeds, p).at("y");
      CHECK(y.data.size() == c.expected.size());
      CHECK(test::maxRelError(y.data, c.expected) < (c.dtype == DType::F32 && p == Precision::Declared ? 1e-7 : 1e-15));
    }
    std::string text = printGraph(g);
    CHECK(printGraph(parseKir(text, name)) == text);
    CHECK(printGraph(parseGraph(graphToJson(g), name)) == text);
    CHECK(graphToJson(parseGraph(graphToJson(g), name)) == graphToJson(g));
  }
}

TEST_CASE("op sweep covers every op of the table") {
  std::set<Op> covered;
  for (const OpCase& c : opCases()) covered.insert(c.op);
  for (Op op : allOps()) {
    // A unary op is checked from its row alone against PyTorch, the JIT and finite differences
    // (tests/OpTableTest.cpp); a hand case here is welcome but not required.
    if (opInfo(op).cls == OpClass::Unary) continue;
    INFO("op without a sweep case: ", opName(op));
    CHECK(covered.count(op) == 1);
  }
}

TEST_CASE("f32 nodes round to f32 and f64 precision keeps the digits") {
  Graph g = test::kir("kiln 1\n%0 = input {name=\"a\"} : f32[1]\n%1 = input {name=\"b\"} : f32[1]\n"
                      "%2 = div %0, %1 : f32[1]\noutput \"y\" = %2\n");
  TensorMap feeds = {{"a", test::tensor(DType::F32, {1}, {1})}, {"b", test::tensor(DType::F32, {1}, {3})}};
  CHECK(evaluate(g, feeds).at("y").data[0] == double(1.0f / 3.0f));
  CHECK(evaluate(g, feeds, Precision::F64).at("y").data[0] == 1.0 / 3.0);
}

TEST_CASE("integer semantics: division truncates, products wrap, errors are named") {
  Graph g = test::kir("kiln 1\n%0 = input {name=\"a\"} : i32[3]\n%1 = input {name=\"b\"} : i32[3]\n"
                      "%2 = div %0, %1 : i32[3]\n%3 = mul %0, %1 : i32[3]\noutput \"q\" = %2\noutput \"p\" = %3\n");
  TensorMap feeds = {{"a", test::tensor(DType::I32, {3}, {7, -7, 65536})}, {"b", test::tensor(DType::I32, {3}, {2, 2, 65536})}};
  TensorMap out = evaluate(g, feeds);
  CHECK(out.at("q").data == std::vector<double>{3, -3, 1});
  CHECK(out.at("p").data == std::vector<double>{14, -14, 0});  // 2^32 wraps to 0
  feeds["b"] = test::tensor(DType::I32, {3}, {1, 0, 1});
  CHECK_THROWS_WITH_AS(evaluate(g, feeds), "error: %2 (div): integer division by zero", Error);
}

}  // namespace kiln
