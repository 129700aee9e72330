// The JIT's correctness: regressions of the wrong results random programs found (each one failed before
// its fix), the memory-plan validator on plans that are wrong, exact constants, the generator's coverage of
// the op table, the shrinker, and the differential tester itself over a fixed list of seeds (interpreter
// in f32 and f64, JIT fused and unfused, finite differences, PyTorch), run through `kiln fuzz-programs`.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "compiler/DiffTest.h"
#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "compiler/RandomProgram.h"
#include "ir/Builder.h"
#include "ir/Error.h"
#include "ir/Printer.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Fuse.h"
#include "passes/Optimizer.h"
#include "passes/PlanMemory.h"
#include "passes/Simplify.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

/// Random normal feeds (f32-rounded) for every input and parameter of `g`.
TensorMap randomFeeds(const Graph& g, uint64_t seed) {
  Rng rng(seed);
  TensorMap f;
  for (const Node& n : g.nodes())
    if (n.op == Op::Input || n.op == Op::Parameter) {
      HostTensor t(n.type.dtype, n.type.shape);
      for (double& v : t.data) v = double(float(rng.normal()));
      f[leafName(n)] = t;
    }
  return f;
}

/// The only checks a regression needs: the JIT, fused and unfused, against the interpreter, and the
/// fused program's memory plan through the validator.
std::vector<DiffFailure> jitAgainstInterpreter(const Graph& g, const TensorMap& feeds) {
  DiffOptions o;
  o.interpreter = o.finiteDifferences = false;
  std::vector<DiffFailure> out;
  Graph forward = g;
  if (!g.findOutput("loss")) {  // diffProgram differentiates a loss: give it one over the first output
    Builder b(g);
    Value y = b.at(g.outputs()[0].node);
    std::vector<int64_t> all(size_t(y.rank()));
    for (size_t i = 0; i < all.size(); ++i) all[i] = int64_t(i);
    b.output("loss", sum(isFloat(y.dtype()) ? y : cast(y, DType::F32), all));
    forward = b.finish();
  }
  return diffProgram(forward, feeds, o);
}

std::string failures(const std::vector<DiffFailure>& fs) {
  std::string s;
  for (const DiffFailure& f : fs) s += f.check + ": " + f.detail + "\n";
  return s;
}

/// The program of `kirText` (after its header) agrees between the JIT and the interpreter at `feeds`
/// (random normal feeds from `seed` when none are given).
void checkJitAgrees(const std::string& kirText, const TensorMap& feeds = {}, uint64_t seed = 1) {
  Graph g = test::kir("kiln 1\n" + kirText);
  std::vector<DiffFailure> f = jitAgainstInterpreter(g, feeds.empty() ? randomFeeds(g, seed) : feeds);
  INFO(printGraph(g), failures(f));
  CHECK(f.empty());
}

}  // namespace

TEST_CASE("JIT regression: a select's f32 result never overwrites its dying bool condition") {
  // plan-memory put %4 in place of %3 (both 64 bytes after rounding): writing element 0 (4 bytes) destroyed
  // condition bytes 1..3 before they were read; y[3] was 4 instead of 3.
  const char* body = R"(%0 = input {name="a"} : f32[4]
%1 = input {name="b"} : f32[4]
%2 = lt %0, %1 : bool[4]
%3 = slice %2 {start=[0], stop=[4]} : bool[4]
%4 = select %3, %0, %1 : f32[4]
%5 = concat %4, %4 {axis=0} : f32[8]
output "y" = %5
)";
  TensorMap feeds{{"a", test::tensor(DType::F32, {4}, {1, 2, 3, 4})}, {"b", test::tensor(DType::F32, {4}, {2, 1, 4, 3})}};
  CHECK(evaluate(test::kir(std::string("kiln 1\n") + body), feeds).at("y").data == std::vector<double>{1, 1, 3, 3, 1, 1, 3, 3});
  checkJitAgrees(body, feeds);
}

TEST_CASE("JIT regression: a chain of in-place reuses keeps its bytes until the chain's last value dies") {
  // %2 in place of %1, %5 in place of %2: the planner kept %1's interval only, and put %8 over the bytes
  // %5 still held while kernel 4 read %5 through a broadcast (rows 9.. of b were wrong).
  const char* body = R"(%0 = input {name="x"} : f32[8,4]
%1 = reduce_sum %0 {axes=[0], keepdims} : f32[1,4]
%2 = exp %1 : f32[1,4]
%3 = input {name="w"} : f32[4,3]
%4 = matmul %2, %3 : f32[1,3]
%5 = neg %2 : f32[1,4]
%6 = input {name="y"} : f32[64,4]
%7 = broadcast %5 : f32[64,4]
%8 = mul %6, %7 : f32[64,4]
output "a" = %4
output "b" = %8
)";
  checkJitAgrees(body, {}, 3);
  Graph g = test::kir(std::string("kiln 1\n") + body);
  Schedule s = fuse(g);
  MemoryPlan p = planMemory(g, s);
  for (const PlannedBuffer& b : p.buffers)  // the owner of the chain's bytes lives as long as its last value
    if (b.node == NodeId{1}) CHECK(b.last >= 4);
}

TEST_CASE("JIT regression: rows kernels whose total keeps its dims") {
  // A row reduction, maps, then a total over every axis with keepdims: the JIT stored each row's part at
  // the row's index instead of adding it to element 0, so the total was the first row's part.
  const char* cases[] = {
      R"(%0 = input {name="x"} : f32[2,4]
%1 = reduce_max %0 {axes=[1], keepdims} : f32[2,1]
%2 = broadcast %1 : f32[2,4]
%3 = sub %0, %2 : f32[2,4]
%4 = reduce_sum %3 {axes=[0,1], keepdims} : f32[1,1]
output "y" = %4
)",
      R"(%0 = input {name="x"} : f32[3,2,5]
%1 = reduce_sum %0 {axes=[2]} : f32[3,2]
%2 = reshape %1 : f32[3,2,1]
%3 = broadcast %2 : f32[3,2,5]
%4 = mul %0, %3 : f32[3,2,5]
%5 = reduce_max %4 {axes=[0,1,2], keepdims} : f32[1,1,1]
output "y" = %5
)",
      R"(%0 = input {name="x"} : f32[4,6]
%1 = reduce_max %0 {axes=[1], keepdims} : f32[4,1]
%2 = broadcast %1 : f32[4,6]
%3 = sub %0, %2 : f32[4,6]
%4 = exp %3 : f32[4,6]
%5 = reduce_sum %4 {axes=[1], keepdims} : f32[4,1]
%6 = broadcast %5 : f32[4,6]
%7 = div %4, %6 : f32[4,6]
%8 = reduce_sum %7 {axes=[0,1], keepdims} : f32[1,1]
%9 = broadcast %8 : f32[4,6]
%10 = sub %7, %9 : f32[4,6]
output "y" = %10
)",
  };
  for (const char* body : cases) {
    Graph g = test::kir(std::string("kiln 1\n") + body);
    Schedule s = fuse(g);
    bool rows = false;
    for (const FusedKernel& k : s.kernels) rows = rows || k.kind == KernelKind::Rows;
    INFO(printGraph(g));
    CHECK(rows);
    checkJitAgrees(body, {}, 5);
  }
}

TEST_CASE("JIT regression: a rows kernel over no elements whose stage holds a broadcast of another rank") {
  // Random program seed 154 (after the generator drew philox too): with zero-size tensors every stage's
  // element count matches the row's, so a stage of shape [0] ran as a map over rows [0] x 3 and its
  // broadcast [0] was indexed with the row's two-dim index: the lowering aborted on an assertion.
  checkJitAgrees(R"(%0 = input {name="x"} : f32[0,3]
%1 = reduce_sum %0 {axes=[1]} : f32[0]
%2 = input {name="s"} : f32[]
%3 = broadcast %2 : f32[0]
%4 = mul %1, %3 : f32[0]
output "y" = %4
)");
}

TEST_CASE("JIT regression: a parameter that is also an output keeps its value when its update lands on it") {
  // The update of p was placed in p's buffer although p itself is the output "loss": the loss read back
  // after the step was the updated parameter.
  Graph g = test::kir(R"(kiln 1
%0 = parameter {name="p", init=normal, scale=1} : f32[]
output "loss" = %0
)");
  for (const char* kind : {"sgd-momentum", "adamw"}) {
    DiffOptions o;
    o.interpreter = o.finiteDifferences = false;
    o.optimizer = kind;
    std::vector<DiffFailure> f = diffProgram(g, randomFeeds(g, 2), o);
    INFO(kind, "\n", failures(f));
    CHECK(f.empty());
  }
}

TEST_CASE("JIT regression: a rows kernel whose stages reduce different dtypes") {
  // The row reductions of one rows kernel shared one accumulator, typed for the first stage (i32): the f64
  // stage after it stored 8 bytes into a 4-byte slot, and the loss came out inf or garbage.
  checkJitAgrees(R"(%0 = input {name="p"} : f64[2]
%1 = input {name="s"} : i32[2]
%2 = reduce_sum %1 {axes=[0], keepdims} : i32[1]
%3 = reduce_max %0 {axes=[0], keepdims} : f64[1]
%4 = broadcast %3 : f64[2]
%5 = cast %2 : f64[1]
%6 = reduce_sum %5 {axes=[0]} : f64[]
%7 = reduce_sum %4 {axes=[0]} : f64[]
%8 = add %6, %7 : f64[]
output "loss" = %8
)",
                 {{"p", test::tensor(DType::F64, {2}, {0.5838346971874451, -0.9874586864203747})},
                  {"s", test::tensor(DType::I32, {2}, {1, 0})}});
}

TEST_CASE("JIT regression: a matmul reads its broadcast operand from memory, so the broadcast stays live") {
  // The matmul kernel of the backward pass listed the broadcast %2 as a member (its epilogue inlines it),
  // so liveness took the matmul's read of %2 as a read inside the kernel: %2's bytes went to a reduction
  // result first, and the gradient came out up to 15 times too large.
  const char* body = R"(%0 = input {name="x"} : f32[1]
%1 = parameter {name="p", init=normal, scale=1} : f32[4,4,1]
%2 = broadcast %0 : f32[4,4,1]
%3 = pow %1, %2 : f32[4,4,1]
%4 = matmul %2, %3 {transpose_a} : f32[4,1,1]
%5 = reduce_sum %4 {axes=[0,1,2], keepdims} : f32[1,1,1]
%6 = reshape %5 : f32[]
output "loss" = %6
)";
  Rng rng(4);
  HostTensor p(DType::F32, {4, 4, 1});
  for (double& v : p.data) v = 0.5 + double(float(rng.uniform()));
  TensorMap feeds{{"x", test::tensor(DType::F32, {1}, {0.11067744344472885})}, {"p", p}};
  Graph program = autodiff(test::kir(std::string("kiln 1\n") + body));
  DiffOptions o;
  o.interpreter = o.finiteDifferences = false;
  std::vector<DiffFailure> f = diffProgram(test::kir(std::string("kiln 1\n") + body), feeds, o);
  INFO(failures(f));
  CHECK(f.empty());
  Graph s = simplify(program);
  Schedule sched = fuse(s);
  CHECK(verifyPlan(s, sched, planMemory(s, sched)).empty());
}

TEST_CASE("JIT regression: f64 kernels fully unrolled by LLVM keep every element (no SLP vectorizer)") {
  // LLVM 19.1's SLP vectorizer turned this reduction kernel (its stored member a sum of two broadcasts)
  // into shuffles with poison lanes that were stored: out1 elements 19, 20, 22 and 23 were garbage.
  checkJitAgrees(R"(%0 = input {name="a"} : f64[2,5,1,1]
%1 = input {name="b"} : f64[2,1,1,3]
%2 = broadcast %1 : f64[2,5,1,3]
%3 = broadcast %0 : f64[2,5,1,3]
%4 = add %2, %3 : f64[2,5,1,3]
%5 = reduce_sum %4 {axes=[0,1,2,3]} : f64[]
output "total" = %5
output "out1" = %4
)");
}

TEST_CASE("plan validator: finds values sharing bytes, at their element sizes and over each value's life") {
  Graph g = test::kir(R"(kiln 1
%0 = input {name="a"} : f32[4]
%1 = input {name="b"} : f32[4]
%2 = lt %0, %1 : bool[4]
%3 = slice %2 {start=[0], stop=[4]} : bool[4]
%4 = select %3, %0, %1 : f32[4]
%5 = exp %4 : f32[4]
%6 = broadcast %5 : f32[3,4]
%7 = input {name="c"} : f32[3,4]
%8 = mul %6, %7 : f32[3,4]
output "y" = %8
)");
  Schedule s = fuse(g);
  MemoryPlan p = planMemory(g, s);
  CHECK(verifyPlan(g, s, p).empty());
  MemoryPlan narrow = p;  // the select's f32 result over its bool condition: legal only at one element size
  narrow.offsetOf[4] = narrow.offsetOf[3];
  std::vector<std::string> problems = verifyPlan(g, s, narrow);
  REQUIRE(!problems.empty());
  CHECK(problems[0].find("%3") != std::string::npos);
  CHECK(problems[0].find("%4") != std::string::npos);
  MemoryPlan broadcastRead = p;  // a result over a value its kernel still reads through a broadcast
  broadcastRead.offsetOf[8] = broadcastRead.offsetOf[5];
  CHECK(!verifyPlan(g, s, broadcastRead).empty());
  MemoryPlan outside = p;
  outside.offsetOf[8] = p.peakBytes;
  CHECK(!verifyPlan(g, s, outside).empty());
}

TEST_CASE("constants and pad values must be exact in their dtype") {
  auto err = [](const std::string& body) {
    try {
      test::kir("kiln 1\n" + body);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err("%0 = constant {values=[0.5]} : i32[]\noutput \"y\" = %0\n").find("not a whole number in i32's range") != std::string::npos);
  CHECK(err("%0 = constant {values=[3000000000]} : i32[]\noutput \"y\" = %0\n").find("i32's range") != std::string::npos);
  CHECK(err("%0 = constant {values=[nan]} : i32[]\noutput \"y\" = %0\n").find("i32's range") != std::string::npos);
  CHECK(err("%0 = constant {values=[2]} : bool[]\noutput \"y\" = %0\n").find("not a bool") != std::string::npos);
  CHECK(err("%0 = input {name=\"x\"} : i32[2]\n%1 = pad %0 {lo=[1], hi=[0], value=0.5} : i32[3]\noutput \"y\" = %1\n")
            .find("pad value 0.5 is not a whole number") != std::string::npos);
  CHECK(err("%0 = constant {values=[-2147483648, 7]} : i32[2]\n%1 = constant {values=[nan]} : f32[]\noutput \"y\" = %0\n").empty());
  Builder b;
  Value x = b.input("x", {DType::I32, {2}});
  CHECK_THROWS_AS(x + 0.5, Error);
  CHECK_NOTHROW(x + 2.0);
}

TEST_CASE("simplify is idempotent: on every model's training program and on the shapes that were not") {
  for (const char* model : {"mlp", "cnn", "gpt", "gpt-block"}) {
    INFO(model);
    OptimizerOptions o;
    o.kind = "adamw";
    Graph once = simplify(addOptimizer(autodiff(findModel(model).build(2)), o));
    CHECK(printGraph(simplify(once)) == printGraph(once));
  }
  // reshape(reshape(x)) -> reshape(x) made a reshape of x to x's own type, which only a second run removed.
  Graph g = test::kir(R"(kiln 1
%0 = parameter {name="p", init=normal, scale=1} : f32[6,1]
%1 = reshape %0 : f32[6]
%2 = reshape %1 : f32[6,1]
%3 = permute %2 {perm=[1,0]} : f32[1,6]
%4 = permute %3 {perm=[1,0]} : f32[6,1]
%5 = broadcast %4 : f32[6,6]
output "y" = %5
)");
  Graph once = simplify(g);
  CHECK(printGraph(simplify(once)) == printGraph(once));
  CHECK(once.size() == 2);  // the parameter and one broadcast
}

TEST_CASE("simplify sums zero pads side by side into one concat (the backward of slicing q, k, v), and only those") {
  // x[2,3,9] cut into three along the last axis, each padded back to its place with zeros and summed in
  // another order: one concat of the three pieces, the same values bit for bit (each element is a piece's
  // or 0 + 0). Pads with a gap between them, of another fill, or differing along two axes stay as they are.
  Graph g = test::kir(R"(kiln 1
%0 = input {name="x"} : f32[2,3,9]
%1 = slice %0 {start=[0,0,0], stop=[2,3,3]} : f32[2,3,3]
%2 = slice %0 {start=[0,0,3], stop=[2,3,5]} : f32[2,3,2]
%3 = slice %0 {start=[0,0,5], stop=[2,3,9]} : f32[2,3,4]
%4 = pad %1 {lo=[0,0,0], hi=[0,0,6], value=0} : f32[2,3,9]
%5 = pad %2 {lo=[0,0,3], hi=[0,0,4], value=0} : f32[2,3,9]
%6 = pad %3 {lo=[0,0,5], hi=[0,0,0], value=0} : f32[2,3,9]
%7 = add %6, %4 : f32[2,3,9]
%8 = add %5, %7 : f32[2,3,9]
%9 = add %4, %6 : f32[2,3,9]
%10 = pad %2 {lo=[0,0,3], hi=[0,0,4], value=1} : f32[2,3,9]
%11 = add %4, %10 : f32[2,3,9]
%12 = pad %1 {lo=[0,1,0], hi=[0,0,6], value=0} : f32[2,4,9]
%13 = pad %2 {lo=[0,0,3], hi=[0,1,4], value=0} : f32[2,4,9]
%14 = add %12, %13 : f32[2,4,9]
%15 = add %4, %5 : f32[2,3,9]
%16 = add %15, %6 : f32[2,3,9]
output "whole" = %8
output "gap" = %9
output "fill" = %11
output "two-axes" = %14
output "grouped" = %16
)");
  SimplifyStats stats;
  Graph s = simplify(g, &stats);
  // %8 (%7 alone has a gap), %15 and %16, whose concat(concat(x1, x2), x3) is flattened.
  CHECK(stats["pad(x) + pad(y) + ..., side by side -> pad(concat(x, y, ...))"] == 3);
  CHECK(stats["concat(concat(a, b), c) -> concat(a, b, c)"] == 1);
  CHECK(stats["pad(x) adding nothing -> x"] == 2);
  CHECK(s.outputs()[4].node == s.outputs()[0].node);  // the same concat
  const Node& whole = s[s.outputs()[0].node];
  REQUIRE(whole.op == Op::Concat);
  CHECK(whole.inputs.size() == 3);
  for (size_t i = 1; i < 4; ++i) CHECK(s[s.outputs()[i].node].op == Op::Add);
  TensorMap feeds = randomInputs(g, 3);
  feeds.at("x").data[4] = -0.0;  // x + 0 -> x keeps a negative zero where the sum gave +0: equal values
  TensorMap before = evaluate(g, feeds), after = evaluate(s, feeds);
  for (const char* out : {"whole", "gap", "fill", "two-axes", "grouped"}) {
    INFO(out);
    CHECK(before.at(out).data == after.at(out).data);
  }
  CHECK(after.at("whole").data == feeds.at("x").data);
}

TEST_CASE("optimizers update f64 parameters (the scalars follow the parameter's dtype)") {
  Builder b;
  Value p = b.parameter("p", {3}, Init::Normal, 1.0, DType::F64);
  Value q = b.parameter("q", {2}, Init::Normal, 1.0);
  b.output("loss", sum(p * p, {0}) + cast(sum(tanh(q), {0}), DType::F64));
  Graph program = autodiff(b.finish());
  for (const char* kind : {"sgd-momentum", "adamw"}) {
    INFO(kind);
    OptimizerOptions o;
    o.kind = kind;
    o.clipNorm = 0.5;
    DiffOptions d;
    d.finiteDifferences = false;
    d.optimizer = kind;
    std::vector<DiffFailure> f = diffProgram(b.graph(), initParameters(b.graph(), 1), d);
    INFO(failures(f));
    CHECK(f.empty());
    CHECK_NOTHROW(addOptimizer(program, o));
  }
}

TEST_CASE("random programs: one per seed, valid, and over the whole op table") {
  RandomProgram a = randomProgram(7), again = randomProgram(7), other = randomProgram(8);
  CHECK(printGraph(a.graph) == printGraph(again.graph));
  CHECK(describeProgram(a.graph, a.feeds) == describeProgram(again.graph, again.feeds));
  CHECK(printGraph(a.graph) != printGraph(other.graph));
  std::set<Op> ops;
  std::set<int64_t> ranks, dims;
  bool keep = false, drop = false;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    RandomProgram p = randomProgram(seed);
    INFO("seed ", seed);
    REQUIRE(p.graph.findOutput("loss"));
    CHECK(p.graph[*p.graph.findOutput("loss")].type.rank() == 0);
    Graph program = autodiff(p.graph);  // throws if the loss reaches a parameter only through comparisons
    Graph step = addOptimizer(program, OptimizerOptions{});  // as the tester does for every second seed
    for (const Graph* g : {&p.graph, &program, &step})
      for (const Node& n : g->nodes()) {
        ops.insert(n.op);
        ranks.insert(n.type.rank());
        for (int64_t d : n.type.shape) dims.insert(d);
        if (n.op == Op::ReduceSum || n.op == Op::ReduceMax) (std::get<ReduceAttrs>(n.attrs).keepdims ? keep : drop) = true;
      }
    int64_t nonFinite = 0;
    for (const HostTensor& v : evaluateAll(p.graph, p.feeds, Precision::F64))
      for (double e : v.data) nonFinite += !std::isfinite(e);
    CHECK(nonFinite == 0);
  }
  for (Op op : allOps()) {
    INFO("op ", opName(op));
    CHECK(ops.count(op));
  }
  for (int64_t r = 0; r <= 4; ++r) CHECK(ranks.count(r));
  CHECK(dims.count(0));
  CHECK(dims.count(1));
  CHECK(keep);
  CHECK(drop);
}

TEST_CASE("the shrinker keeps what fails and drops the rest") {
  RandomProgram p;
  for (uint64_t seed = 1; seed < 100; ++seed) {
    p = randomProgram(seed);
    bool hasExp = false;
    for (const Node& n : p.graph.nodes()) hasExp = hasExp || n.op == Op::Exp;
    if (hasExp && p.graph.size() > 60) break;
  }
  auto hasExp = [](const Graph& g) {
    for (const Node& n : g.nodes())
      if (n.op == Op::Exp) return true;
    return false;
  };
  auto fails = [&](const std::vector<std::pair<Graph, TensorMap>>& cs) {
    std::vector<bool> out;
    for (const auto& c : cs) out.push_back(hasExp(c.first));
    return out;
  };
  auto [small, feeds] = shrinkProgram(p.graph, p.feeds, fails, 4);
  INFO(printGraph(small));
  CHECK(hasExp(small));
  CHECK(small.size() <= 4);  // a leaf, its exp, and what makes it the scalar loss (a reduction, a reshape)
  CHECK(small.outputs().size() == 1);
  CHECK_NOTHROW(evaluate(small, feeds));
}

TEST_CASE("the differential tester reports disagreement (a check that cannot fail is no check)") {
  RandomProgram p = randomProgram(11);
  DiffOptions o;
  o.jit = false;
  Graph program = autodiff(p.graph);
  TensorMap torch = evaluate(program, p.feeds, Precision::F64);
  CHECK(diffProgram(p.graph, p.feeds, o, &torch).empty());
  torch.at("loss").data[0] += 1e-3 * (1 + std::fabs(torch.at("loss").data[0]));
  std::vector<DiffFailure> f = diffProgram(p.graph, p.feeds, o, &torch);
  REQUIRE(f.size() == 1);
  CHECK(f[0].check == "torch");
  CHECK(f[0].detail.find("\"loss\"") != std::string::npos);
}

// The tester over a fixed list of seeds, through the CLI and PyTorch (Debian's python3-torch): 300
// programs, 50 a case so that a failure names its range and CTest reports progress.
void checkSeeds(int first) {
  test::CliResult r = test::runKiln(fmt::format("fuzz-programs --n 50 --seed {} --torch", first));
  INFO(r.out, r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find(fmt::format("50 programs (seeds {}..{})", first, first + 49)) != std::string::npos);
  CHECK(r.out.find(", 0 failed;") != std::string::npos);
}

TEST_CASE("random programs 1-50 agree across every engine, finite differences and PyTorch") { checkSeeds(1); }
TEST_CASE("random programs 51-100 agree across every engine, finite differences and PyTorch") { checkSeeds(51); }
TEST_CASE("random programs 101-150 agree across every engine, finite differences and PyTorch") { checkSeeds(101); }
TEST_CASE("random programs 151-200 agree across every engine, finite differences and PyTorch") { checkSeeds(151); }
TEST_CASE("random programs 201-250 agree across every engine, finite differences and PyTorch") { checkSeeds(201); }
TEST_CASE("random programs 251-300 agree across every engine, finite differences and PyTorch") { checkSeeds(251); }

}  // namespace kiln
