// The op table's contract with the rest of kiln (docs/AddingAnOp.md): every op of ir/Ops.def is documented
// in docs/IR.md and known to the PyTorch oracle, and every unary op, generated from its row alone (its DSL
// function, its domain), agrees with PyTorch, the interpreter, the JIT and finite differences. The
// compiler flags a missing case in the switches; these tests flag what a switch cannot.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "compiler/DiffTest.h"
#include "compiler/ParamInit.h"
#include "ir/Builder.h"
#include "ir/Ops.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

std::string readSource(const std::string& path) {
  std::ifstream in(test::sourcePath(path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// y = op(x) over 2x4 values drawn in the op's domain, and loss = sum(y * r) for a fixed r.
std::pair<Graph, TensorMap> unaryProgram(Op op) {
  Builder b(std::string(opName(op)));
  Value x = b.parameter("x", {2, 4}, Init::Zeros);
  Value y = unary(op, x);
  std::vector<double> r = {0.3, -1.1, 0.7, 0.2, -0.4, 0.9, 1.3, -0.6};
  b.output("y", y);
  b.output("loss", sum(y * b.constant(r, y.type()), {0, 1}));
  Graph g = b.finish();
  HostTensor v(DType::F32, {2, 4});
  const double any[] = {-1.7, -0.9, -0.31, 0.05, 0.42, 0.8, 1.25, 2.1};
  for (size_t i = 0; i < 8; ++i) {
    switch (opInfo(op).facts.domain) {
      case Domain::AnyReal:
      case Domain::AwayFromKinks: v.data[i] = any[i]; break;
      case Domain::Positive: v.data[i] = 0.2 + 0.3 * double(i); break;
      case Domain::Moderate: v.data[i] = any[i] * 0.5; break;
    }
  }
  return {g, {{"x", v}}};
}

}  // namespace

TEST_CASE("op table: every op is documented in docs/IR.md and known to the PyTorch oracle") {
  std::string ir = readSource("docs/IR.md"), oracle = readSource("tests/torch/eval_graph.py");
  for (Op op : allOps()) {
    std::string name(opName(op));
    INFO("op ", name);
    CHECK(std::regex_search(ir, std::regex("^\\|.*`" + name + "`.*\\|", std::regex::multiline)));
    bool leaf = opInfo(op).cls == OpClass::Leaf && op != Op::Constant && op != Op::Iota;  // fed, not evaluated
    if (!leaf) CHECK(oracle.find("\"" + name + "\"") != std::string::npos);
  }
}

TEST_CASE("op table: every unary op, from its row alone, agrees with PyTorch, the JIT and finite differences") {
  std::vector<std::pair<Graph, TensorMap>> programs;
  std::vector<Op> ops;
  for (Op op : allOps())
    if (opInfo(op).cls == OpClass::Unary) {
      ops.push_back(op);
      programs.push_back(unaryProgram(op));
    }
  REQUIRE(ops.size() >= 11);
  std::vector<TorchResult> torch = torchResults(programs, test::tempDir("op-table-torch"), "/usr/bin/python3",
                                                test::sourcePath("tests/torch/eval_graph.py"));
  REQUIRE(torch.size() == ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    INFO("op ", opName(ops[i]), ": ", torch[i].error);
    REQUIRE(torch[i].error.empty());
    std::vector<DiffFailure> f = diffProgram(programs[i].first, programs[i].second, {}, &torch[i].values);
    std::string why;
    for (const DiffFailure& d : f) why += d.check + ": " + d.detail + "\n";
    INFO(why);
    CHECK(f.empty());
    // PyTorch computed something: its y is the op applied, not a copy of x.
    CHECK(torch[i].values.at("y").data != programs[i].second.at("x").data);
  }
}

}  // namespace kiln
