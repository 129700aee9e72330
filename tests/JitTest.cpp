// The JIT against the interpreter: every op of the table, structural cases with awkward shapes, and every
// model's forward pass and training step. Tolerances: integer and bool results exact; f32 results within
// 1e-6 relative (5e-6 where f32 sums of hundreds of terms are reordered), losses within 1e-5, every output
// of a training step within 1e-5 of the largest magnitude of its tensor.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "compiler/DiffTest.h"
#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "compiler/Pipeline.h"
#include "ir/Builder.h"
#include "ir/Error.h"
#include "ir/Parser.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"
#include "tests/OpCases.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace test {
CompileOptions cachedOptions() { return {true, std::string(KILN_BUILD_DIR) + "/kiln-cache"}; }

TensorMap runJit(const Graph& g, const TensorMap& feeds, bool optimize = true) {
  CompileOptions opts = cachedOptions();
  opts.optimize = optimize;
  return runCompiled(g, feeds, opts);
}

/// Largest difference relative to the largest magnitude of `want` (elementwise relative error is
/// meaningless for values that cancel to near zero).
double scaledError(const HostTensor& got, const HostTensor& want) {
  if (got.data.size() != want.data.size()) return INFINITY;
  double scale = 1e-30, worst = 0;
  for (double v : want.data) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < got.data.size(); ++i) {
    if (std::isnan(got.data[i]) != std::isnan(want.data[i])) return INFINITY;
    if (got.data[i] == want.data[i] || std::isnan(want.data[i])) continue;
    worst = std::max(worst, std::fabs(got.data[i] - want.data[i]) / scale);
  }
  return worst;
}
}  // namespace test

TEST_CASE("JIT: every op of the table agrees with the interpreter, fused or not") {
  for (const OpCase& c : opCases())
    for (bool optimize : {true, false}) {
      INFO("op ", opName(c.op), optimize ? ", fused" : ", unfused");
      Graph g = parseKir("kiln 1\n" + c.body, std::string(opName(c.op)));
      HostTensor want = evaluate(g, c.feeds).at("y"), got = test::runJit(g, c.feeds, optimize).at("y");
      CHECK(got.dtype == want.dtype);
      if (isFloat(want.dtype)) CHECK(test::maxRelError(got.data, want.data) < 1e-6);
      else CHECK(got.data == want.data);
    }
}

namespace {

/// Many ops with awkward shapes in one graph (one compile): remainders, strides, padding, transposes,
/// middle axes, repeated indices, empty tensors.
std::pair<Graph, TensorMap> structuralGraph() {
  Builder b("structural");
  TensorMap feeds;
  Rng rng(9);
  auto in = [&](const std::string& name, Shape s) {
    HostTensor t(DType::F32, s);
    for (double& v : t.data) v = double(float(rng.normal()));
    feeds[name] = t;
    return b.input(name, {DType::F32, s});
  };
  Value x4 = in("x4", {2, 3, 5, 7}), a = in("a", {2, 5, 17}), bt = in("bt", {2, 33, 17}), bn = in("bn", {2, 17, 33});
  Value at = in("at", {2, 17, 5}), img = in("img", {2, 3, 9, 8}), w = in("w", {4, 3, 3, 2});
  b.output("mm", matmul(a, bn));
  b.output("mm_tb", matmul(a, bt, false, true));
  b.output("mm_ta", matmul(at, bn, true, false));
  b.output("mm_tab", matmul(at, bt, true, true));
  Value conv = conv2d(img, w, {2, 1}, {1, 1});
  b.output("conv", conv);
  b.output("conv_dx", b.add(Op::Conv2dGradInput, {conv, w}, ConvAttrs{{2, 1}, {1, 1}, {}}, img.type(), Site::current()));
  b.output("conv_dw", b.add(Op::Conv2dGradWeight, {img, conv}, ConvAttrs{{2, 1}, {1, 1}, {}}, w.type(), Site::current()));
  Value mp = maxPool2d(img, 3, 2, 1);
  b.output("maxpool", mp);
  b.output("maxpool_grad", b.add(Op::MaxPool2dGrad, {img, mp}, PoolAttrs{{3, 3}, {2, 2}, {1, 1}}, Site::current()));
  Value ap = avgPool2d(img, 3, 2, 1);
  b.output("avgpool", ap);
  b.output("avgpool_grad", b.add(Op::AvgPool2dGrad, {ap}, PoolAttrs{{3, 3}, {2, 2}, {1, 1}}, img.type(), Site::current()));
  // The partials of split-reductions: runs of axis 0, even and uneven, summed, maxed, of a conv's weight.
  Value tall = in("tall", {13, 6, 5}), img5 = in("img5", {5, 2, 6, 6}), w5 = in("w5", {3, 2, 3, 3});
  b.output("sum_groups", b.add(Op::ReduceSum, {tall}, ReduceAttrs{{0, 2}, false, {5}}, Site::current()));
  b.output("sum_groups_inner", b.add(Op::ReduceSum, {tall}, ReduceAttrs{{0, 1, 2}, true, {4}}, Site::current()));
  b.output("max_groups", b.add(Op::ReduceMax, {exp(x4)}, ReduceAttrs{{0, 3}, true, {2}}, Site::current()));
  Value conv5 = conv2d(img5, w5, {1, 1}, {1, 0});
  b.output("conv_dw_groups", b.add(Op::Conv2dGradWeight, {img5, conv5}, ConvAttrs{{1, 1}, {1, 0}, {3}},
                                   {DType::F32, {3, 3, 2, 3, 3}}, Site::current()));
  b.output("sum_mid", sum(x4, {1, 2}));
  b.output("sum_inner_keep", sum(x4, {3}, true));
  b.output("max_outer", reduceMax(x4, {0}));
  b.output("max_all", reduceMax(x4, {0, 1, 2, 3}));
  b.output("permute", permute(x4, {3, 1, 0, 2}));
  b.output("slice", slice(x4, {1, 0, 2, 3}, {2, 3, 5, 6}));
  b.output("concat", concat({x4, sliceAxis(x4, 2, 1, 3)}, 2));
  b.output("pad", pad(x4, {0, 1, 2, 0}, {1, 0, 1, 3}, -2.5));
  b.output("pad_outer", pad(x4, {2, 0, 1, 1}, {1, 2, 0, 0}, 0.5));  // rows of pad before and after the input's
  b.output("broadcast", broadcastTo(reshape(sliceAxis(x4, 1, 0, 1), {2, 1, 5, 7}), {3, 2, 4, 5, 7}));
  Value idx = b.constant({3, 0, 3, 1, 2, 3}, {DType::I32, {2, 3}});
  b.output("gather", gather(reshape(x4, {6, 35}), idx));
  b.output("scatter", scatterAdd(idx, reshape(x4, {2, 3, 35}), 6));
  b.output("iota_f32", b.iota({DType::F32, {3, 4}}, 0));
  b.output("cast_i32", cast(x4 * 10.0, DType::I32));
  b.output("cast_bool", cast(gt(x4, 0.0), DType::F64));
  b.output("empty", sum(exp(in("e", {0, 4})), {0}));
  return {b.finish(), feeds};
}

}  // namespace

TEST_CASE("JIT: structural cases with awkward shapes agree with the interpreter, fused or not") {
  auto [g, feeds] = structuralGraph();
  TensorMap want = evaluate(g, feeds);
  for (bool optimize : {true, false}) {
    TensorMap got = test::runJit(g, feeds, optimize);
    for (const Output& o : g.outputs()) {
      INFO("output ", o.name, optimize ? ", fused" : ", unfused");
      CHECK(got.at(o.name).shape == want.at(o.name).shape);
      double err = test::scaledError(got.at(o.name), want.at(o.name));
      CHECK(err < (isFloat(want.at(o.name).dtype) ? 5e-6 : 0.0) + 1e-300);
    }
  }
}

TEST_CASE("JIT: every op of the table and the structural cases give the same bits at 1 and 3 threads, every kernel split finely") {
  auto finely = [](int threads) {
    CompileOptions o = test::cachedOptions();
    o.threads = threads, o.finestChunks = true;
    return o;
  };
  int64_t split = 0;
  for (const OpCase& c : opCases()) {
    INFO("op ", opName(c.op));
    Graph g = parseKir("kiln 1\n" + c.body, std::string(opName(c.op)));
    std::unique_ptr<Executable> exe = compileGraph(g, finely(3));
    for (const Kernel& k : exe->spec().kernels) split += k.chunks > 1;
    CHECK(runCompiled(g, c.feeds, finely(3)).at("y").data == runCompiled(g, c.feeds, finely(1)).at("y").data);
  }
  auto [g, feeds] = structuralGraph();
  TensorMap one = runCompiled(g, feeds, finely(1)), three = runCompiled(g, feeds, finely(3));
  for (const Output& o : g.outputs()) {
    INFO("output ", o.name);
    CHECK(three.at(o.name).data == one.at(o.name).data);
  }
  std::unique_ptr<Executable> exe = compileGraph(g, finely(3));
  for (const Kernel& k : exe->spec().kernels) split += k.chunks > 1;
  CHECK(split >= 40);  // most ops' kernels really are split
}

TEST_CASE("JIT: concat along every axis, split over its output's rows, copies each input's elements at 1 and 3 threads") {
  Graph g = parseKir(R"(kiln 1
%0 = input {name="a"} : f32[3,2,4]
%1 = input {name="b"} : f32[1,2,4]
%2 = input {name="c"} : f32[2,2,4]
%3 = concat %0, %1, %2 {axis=0} : f32[6,2,4]
%4 = input {name="d"} : f32[3,1,4]
%5 = concat %0, %4, %0 {axis=1} : f32[3,5,4]
%6 = input {name="e"} : f32[3,2,3]
%7 = concat %6, %0 {axis=2} : f32[3,2,7]
output "rows" = %3
output "middle" = %5
output "inner" = %7
)",
                     "concat");
  TensorMap feeds = randomInputs(g, 9);
  TensorMap want = evaluate(g, feeds);
  for (int threads : {1, 3}) {
    CompileOptions o = test::cachedOptions();
    o.threads = threads, o.finestChunks = true;
    std::unique_ptr<Executable> exe = compileGraph(g, o);
    for (const Kernel& k : exe->spec().kernels) CHECK(k.chunks > 1);
    TensorMap got = runCompiled(g, feeds, o);
    for (const char* out : {"rows", "middle", "inner"}) {
      INFO(out, " at ", threads, " threads");
      CHECK(got.at(out).data == want.at(out).data);
    }
  }
}

TEST_CASE("JIT: every model's forward pass and training step agree with the interpreter") {
  struct Case {
    std::string model;
    int64_t batch;
  };
  for (const Case& c : {Case{"mlp", 8}, Case{"cnn", 4}, Case{"gpt", 1}, Case{"gpt-block", 2}}) {
    INFO("model ", c.model);
    Graph g = findModel(c.model).build(c.batch);
    TensorMap feeds = initParameters(g, 3);
    for (auto& [k, v] : randomInputs(g, 3)) feeds[k] = v;
    CHECK(test::scaledError(test::runJit(g, feeds).at("loss"), evaluate(g, feeds).at("loss")) < 1e-5);
    CHECK(test::scaledError(test::runJit(g, feeds, false).at("loss"), evaluate(g, feeds).at("loss")) < 1e-5);
    // SGD with momentum: its update is linear in the gradient, so the comparison measures the gradients
    // (Adam would amplify gradients that are rounding noise into whole steps; see tests/TorchTest.cpp).
    OptimizerOptions o;
    o.kind = "sgd-momentum", o.lr = 0.1;
    Graph prog = addOptimizer(autodiff(g), o);
    TensorMap progFeeds = initParameters(prog, 3);
    for (auto& [k, v] : feeds) progFeeds[k] = v;
    // The same step with simplification, fusion and memory planning on (the default) and off.
    TensorMap want = evaluate(prog, progFeeds);
    for (bool optimize : {true, false}) {
      TensorMap got = test::runJit(prog, progFeeds, optimize);
      double worst = 0;
      for (const Output& out : prog.outputs())
        if (out.name != "lr") {
          double e = test::scaledError(got.at(out.name), want.at(out.name));
          if (e > 1e-5) MESSAGE(out.name, " differs by ", e);
          worst = std::max(worst, e);
        }
      MESSAGE(c.model, std::string(optimize ? " fused and planned" : " one kernel per node"), ": worst scaled difference over the training step's outputs ", worst);
      CHECK(worst < 1e-5);
    }
  }
}

namespace {

/// `layers` dense layers of one width, relu(x W_i): each a matmul kernel with its epilogue, alike but for
/// where its buffers live.
Graph denseStack(int layers) {
  Builder b("stack");
  Value x = b.input("x", {DType::F32, {8, 16}});
  for (int i = 0; i < layers; ++i) x = relu(matmul(x, b.input("w" + std::to_string(i), {DType::F32, {16, 16}})));
  b.output("y", x);
  return b.finish();
}

TensorMap stackFeeds(int layers) {
  Rng rng(4);
  TensorMap feeds;
  auto fill = [&](const std::string& name, Shape s, double scale) {
    HostTensor t(DType::F32, s);
    for (double& v : t.data) v = double(float(scale * rng.normal()));
    feeds[name] = t;
  };
  fill("x", {8, 16}, 1);
  for (int i = 0; i < layers; ++i) fill("w" + std::to_string(i), {16, 16}, 0.3);
  return feeds;
}

TensorMap runWith(const Graph& g, const TensorMap& feeds, const CompileOptions& opts, CompileStats& stats) {
  std::unique_ptr<Executable> exe = compileGraph(g, opts, &stats);
  for (const auto& [name, v] : feeds) exe->set(name, toStored(v));
  exe->run();
  return {{"y", fromStored(exe->output("y"), "y")}};
}

}  // namespace

TEST_CASE("JIT: kernels that differ only in their arena offsets share one body, compiled once and cached per module") {
  std::string dir = test::tempDir("bodies");
  CompileOptions opts{true, dir};
  opts.threads = 2;
  Graph three = denseStack(3);
  TensorMap feeds = stackFeeds(3);
  CompileStats cold, warm, serial;
  TensorMap got = runWith(three, feeds, opts, cold);
  CHECK(test::scaledError(got.at("y"), evaluate(three, feeds).at("y")) < 1e-6);
  CHECK(cold.kernels == 3);
  CHECK(cold.units == 2);  // one body for the three layers, and the entry points
  CHECK(cold.unitsCompiled == 2);
  CHECK(cold.compileThreads == 2);
  runWith(three, feeds, opts, warm);
  CHECK(warm.cacheHit);
  CHECK(warm.unitsCompiled == 0);
  // Another program with the same layer: only its entry points are new.
  Graph two = denseStack(2);
  CompileStats other;
  TensorMap twoGot = runWith(two, stackFeeds(2), opts, other);
  CHECK(other.units == 2);
  CHECK(other.unitsCompiled == 1);
  CHECK(test::scaledError(twoGot.at("y"), evaluate(two, stackFeeds(2)).at("y")) < 1e-6);
  // One thread, no cache: the same code, bit for bit the same result.
  CompileOptions one{false, ""};
  one.threads = 1;
  CHECK(runWith(three, feeds, one, serial).at("y").data == got.at("y").data);
  CHECK(serial.compileThreads == 1);
  CHECK(serial.unitsCompiled == 2);
  std::filesystem::remove_all(dir);
}

TEST_CASE("JIT: max_pool2d, avg_pool2d and their gradients on windows that tile the input, vectorised, agree exactly with the interpreter") {
  struct PoolCase {
    int64_t kh, kw, oh, ow, extraH, extraW;
    DType dtype;
  };
  std::vector<PoolCase> cases;
  const std::pair<int64_t, int64_t> windows[] = {{1, 1}, {2, 2}, {3, 3}, {2, 3}, {4, 1}, {4, 4}};
  const int64_t widths[] = {1, 5, 16, 17, 33};
  for (size_t i = 0; i < 30; ++i)
    cases.push_back({windows[i % 6].first, windows[i % 6].second, 1 + int64_t(i % 4), widths[i / 6], int64_t(i % 2),
                     int64_t(i / 2 % 2), i % 3 == 2 ? DType::F64 : DType::F32});
  Builder b("pool-sweep");
  for (size_t i = 0; i < cases.size(); ++i) {
    const PoolCase& c = cases[i];
    Value x = b.input(fmt::format("x{}", i), {c.dtype, {2, 3, c.kh * c.oh + c.extraH, c.kw * c.ow + c.extraW}});
    PoolAttrs a{{c.kh, c.kw}, {c.kh, c.kw}, {0, 0}};
    Value y = b.add(Op::MaxPool2d, {x}, a, Site::current());
    b.output(fmt::format("y{}", i), y);
    Value gy = b.input(fmt::format("g{}", i), y.type());
    b.output(fmt::format("dx{}", i), b.add(Op::MaxPool2dGrad, {x, gy}, a, Site::current()));
    Value avg = b.add(Op::AvgPool2d, {x}, a, Site::current());
    b.output(fmt::format("avg{}", i), avg);
    b.output(fmt::format("davg{}", i), b.add(Op::AvgPool2dGrad, {gy}, a, x.type(), Site::current()));
  }
  Graph g = b.finish();
  TensorMap feeds = randomInputs(g, 8);
  // Few distinct values (halves: avg's sums are exact in any order), so windows have ties; and a NaN now
  // and then.
  for (auto& [name, t] : feeds)
    for (size_t e = 0; e < t.data.size(); ++e) t.data[e] = e % 37 == 5 ? NAN : std::round(t.data[e] * 2) / 2;
  TensorMap want = evaluate(g, feeds), got = test::runJit(g, feeds);
  for (const auto& [name, t] : want) {
    INFO(name);
    const std::vector<double>& v = got.at(name).data;
    REQUIRE(v.size() == t.data.size());
    size_t same = 0;
    for (size_t e = 0; e < v.size(); ++e) same += v[e] == t.data[e] || (std::isnan(v[e]) && std::isnan(t.data[e]));
    CHECK(same == v.size());
  }
}

TEST_CASE("JIT: run-time errors name the kernel, and inputs are checked") {
  Graph g = test::kir("kiln 1\n%0 = input {name=\"t\"} : f32[2,2]\n%1 = input {name=\"i\"} : i32[1]\n"
                      "%2 = gather %0, %1 : f32[1,2]\n%3 = div %1, %1 : i32[1]\n%4 = cast %0 : i32[2,2]\n"
                      "output \"g\" = %2\noutput \"d\" = %3\noutput \"c\" = %4\n");
  auto exe = compileGraph(g, test::cachedOptions());
  exe->set("t", toStored(test::tensor(DType::F32, {2, 2}, {1, 2, 3, 4})));
  exe->set("i", toStored(test::tensor(DType::I32, {1}, {5})));
  CHECK_THROWS_WITH_AS(exe->run(), "error: kernel k2_gather: an index is out of range", Error);
  exe->set("i", toStored(test::tensor(DType::I32, {1}, {0})));
  CHECK_THROWS_WITH_AS(exe->run(), "error: kernel k3_div: integer division by zero", Error);
  exe->set("i", toStored(test::tensor(DType::I32, {1}, {1})));
  exe->set("t", toStored(test::tensor(DType::F32, {2, 2}, {1, NAN, 3, 4})));
  CHECK_THROWS_WITH_AS(exe->run(), "error: kernel k4_cast: a value cast to i32 is NaN or out of range", Error);
  CHECK_THROWS_WITH_AS(exe->set("t", toStored(test::tensor(DType::F32, {4}, {1, 2, 3, 4}))),
                       "error: \"t\": expected F32[2,2], got F32[4]", Error);
  CHECK_THROWS_WITH_AS(exe->set("i", toStored(test::tensor(DType::F32, {1}, {1}))), "error: \"i\": expected I32[1], got F32[1]", Error);
  CHECK_THROWS_WITH_AS(exe->set("zz", toStored(test::tensor(DType::F32, {1}, {1}))),
                       "error: no input, parameter or state is called \"zz\"", Error);
}

TEST_CASE("JIT session: checkpoints resume to the same next step, and NaN stops training") {
  Graph g = findModel("mlp").build(4);
  OptimizerOptions o;
  o.kind = "adamw", o.lr = 1e-3;
  Graph prog = addOptimizer(autodiff(g), o);
  std::vector<TensorFile> batches;
  for (uint64_t s = 0; s < 5; ++s) batches.push_back(toStored(randomInputs(prog, s)));
  auto a = compileSession(prog, 1, test::cachedOptions());
  for (int i = 0; i < 3; ++i) a->step(batches[size_t(i)]);
  std::string dir = test::tempDir("ckpt");
  a->save(dir + "/c.safetensors");
  double next = a->step(batches[3]);
  auto b = compileSession(prog, 99, test::cachedOptions());  // another seed: the checkpoint must override it
  b->load(dir + "/c.safetensors");
  CHECK(b->step(batches[3]) == next);
  CHECK(b->get("fc1.weight").bytes == a->get("fc1.weight").bytes);
  CHECK(b->get("optimizer.step").bytes == a->get("optimizer.step").bytes);
  writeSafetensors(dir + "/bad.safetensors", TensorFile{{"fc1.weight", a->get("fc1.weight")}});
  CHECK_THROWS_WITH_AS(b->load(dir + "/bad.safetensors"), doctest::Contains("checkpoint has no tensor"), Error);
  TensorFile nanBatch = batches[4];
  HostTensor x = fromStored(nanBatch.at("x"), "x");
  x.data[0] = NAN;
  nanBatch["x"] = toStored(x);
  StoredTensor before = b->get("fc1.weight");
  CHECK_THROWS_WITH_AS(b->step(nanBatch), doctest::Contains("step 1: the loss is nan (training stopped"), Error);
  CHECK(b->get("fc1.weight").bytes == before.bytes);
  std::filesystem::remove_all(dir);
}

}  // namespace kiln
