// The GEMM engine against the interpreter over awkward shapes: M, N and K drawn from {1, 2, 3, 7, 15, 16,
// 17, 31, 33, 64, 100, 257}, every transpose combination, batched and not, f32 and f64, bare and with a
// fused epilogue: on the register tile (a bias and ReLU; biases along the rows and the columns), or element
// by element on the stored tile (a member that cannot compute on vectors: a cast to i32). Each element
// must be within the forward error bound of any summation order, (K + 2) u sum_k |a_ik| |b_kj| (u the unit
// roundoff of the dtype), of the interpreter's f64 value.
#include <doctest/doctest.h>

#include <cmath>

#include <fmt/format.h>

#include "compiler/DiffTest.h"
#include "compiler/Gemm.h"
#include "compiler/Interpreter.h"
#include "compiler/ParamInit.h"
#include "ir/Builder.h"
#include "ir/Printer.h"
#include "tests/TestUtil.h"

namespace kiln {

namespace {

/// The sweep's epilogues.
enum class Epi {
  None,
  Relu,    ///< relu(y + 0.25): on the register tile
  Biases,  ///< relu(y + r[N] + s[M, 1]): on the register tile, r read as vectors, s as one value a row
  Scalar,  ///< select(y > 1e30, f(cast(y, i32)), y) + 0.5 = y + 0.5: element by element (the cast)
};

struct GemmCase {
  int64_t batch, M, N, K;
  bool ta, tb;
  Epi epilogue;
  DType dtype;
  std::string name() const {
    const char* epi[] = {"", " +relu", " +biases", " +scalar"};
    return fmt::format("{}x[{}x{}x{}]{}{}{} {}", batch, M, N, K, ta ? " ta" : "", tb ? " tb" : "", epi[int(epilogue)],
                       dtypeName(dtype));
  }
};

/// About 240 cases: the dims crossed sparsely by a fixed stride through all 12^3 triples, each case with
/// the next transpose combination, every third batched, every third with an epilogue (of each kind in
/// turn), dtypes alternating.
std::vector<GemmCase> cases() {
  const int64_t dims[] = {1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 100, 257};
  std::vector<GemmCase> out;
  for (int64_t i = 0, c = 0; i < 12 * 12 * 12; i += 7, ++c) {
    int64_t M = dims[i % 12], N = dims[i / 12 % 12], K = dims[i / 144];
    if (M * N * K > (1 << 21)) continue;  // the interpreter's loops stay quick
    Epi epi = c % 3 == 2 ? Epi(1 + c / 3 % 3) : Epi::None;
    out.push_back({c % 3 == 1 ? 3 : 1, M, N, K, (c & 1) != 0, (c & 2) != 0, epi, c % 2 ? DType::F64 : DType::F32});
  }
  return out;
}

/// Checks every case of `group` in one compiled graph, so the JIT compiles them together.
void checkGroup(const std::vector<GemmCase>& group) {
  Builder b("gemm-sweep");
  for (size_t i = 0; i < group.size(); ++i) {
    const GemmCase& c = group[i];
    Shape as = c.ta ? Shape{c.K, c.M} : Shape{c.M, c.K}, bs = c.tb ? Shape{c.N, c.K} : Shape{c.K, c.N};
    if (c.batch > 1) as.insert(as.begin(), c.batch), bs.insert(bs.begin(), c.batch);
    Value y = matmul(b.input(fmt::format("a{}", i), {c.dtype, as}), b.input(fmt::format("b{}", i), {c.dtype, bs}), c.ta, c.tb);
    if (c.epilogue == Epi::Relu) y = relu(y + 0.25);
    if (c.epilogue == Epi::Biases)
      y = relu(y + b.input(fmt::format("r{}", i), {c.dtype, {c.N}}) + b.input(fmt::format("s{}", i), {c.dtype, {c.M, 1}}));
    if (c.epilogue == Epi::Scalar) y = select(gt(y, 1e30), cast(cast(y, DType::I32), c.dtype), y) + 0.5;
    b.output(fmt::format("y{}", i), y);
  }
  Graph g = b.finish();
  TensorMap feeds = randomInputs(g, 11);
  TensorMap ref = evaluate(g, feeds, Precision::F64);
  TensorMap jit = runCompiled(g, feeds, {true, std::string(KILN_BUILD_DIR) + "/kiln-cache"});
  for (size_t i = 0; i < group.size(); ++i) {
    const GemmCase& c = group[i];
    const HostTensor &A = feeds.at(fmt::format("a{}", i)), &B = feeds.at(fmt::format("b{}", i));
    const HostTensor &want = ref.at(fmt::format("y{}", i)), &got = jit.at(fmt::format("y{}", i));
    double u = c.dtype == DType::F32 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -53);
    int64_t worst = -1;
    double worstExcess = 0;
    for (int64_t bi = 0; bi < c.batch; ++bi)
      for (int64_t m = 0; m < c.M; ++m)
        for (int64_t n = 0; n < c.N; ++n) {
          double absSum = 0;
          for (int64_t k = 0; k < c.K; ++k) {
            double a = A.data[size_t(bi * c.M * c.K + (c.ta ? k * c.M + m : m * c.K + k))];
            double bv = B.data[size_t(bi * c.K * c.N + (c.tb ? n * c.K + k : k * c.N + n))];
            absSum += std::fabs(a * bv);
          }
          size_t at = size_t((bi * c.M + m) * c.N + n);
          double biases = 0;  // the epilogue's two roundings of the biases' adds
          if (c.epilogue == Epi::Biases)
            biases = std::fabs(feeds.at(fmt::format("r{}", i)).data[size_t(n)]) + std::fabs(feeds.at(fmt::format("s{}", i)).data[size_t(m)]);
          double bound = double(c.K + 2) * u * absSum + 4 * u * (std::fabs(want.data[at]) + biases) + 1e-300;
          double excess = std::fabs(got.data[at] - want.data[at]) / bound;
          if (excess > worstExcess) worstExcess = excess, worst = int64_t(at);
        }
    INFO("case ", c.name(), ": worst element ", worst, " at ", worstExcess, " of its bound");
    CHECK(worstExcess <= 1.0);
  }
}

}  // namespace

TEST_CASE("GEMM engine: 240 awkward shapes, every transpose, batched, f32 and f64, with and without epilogues") {
  std::vector<GemmCase> all = cases();
  CHECK(all.size() >= 200);
  std::vector<GemmCase> group;
  for (const GemmCase& c : all) {
    group.push_back(c);
    if (group.size() == 60) checkGroup(group), group.clear();
  }
  if (!group.empty()) checkGroup(group);
}

TEST_CASE("GEMM engine: the plan fits the registers and the caches, and narrow shapes get a narrow tile") {
  for (bool avx512 : {true, false})
    for (DType t : {DType::F32, DType::F64}) {
      GemmPlan p = planGemm(128, 512, 784, t, avx512);
      int64_t registers = avx512 ? 32 : 16;
      INFO(p.str());
      CHECK(p.vl == (avx512 ? 64 : 32) / dtypeSize(t));
      CHECK(p.nr % p.vl == 0);
      CHECK(p.mr * (p.nr / p.vl) + p.nr / p.vl + 1 <= registers);  // accumulators, B vectors, A broadcast
      CHECK(p.mc % p.mr == 0);
      CHECK(p.nc % p.nr == 0);
      CHECK((784 + p.kc - 1) / p.kc <= 4);  // blocks of at least 256 depths, evened out: 4 of 196-208
      CHECK(planGemm(2048, 256, 2048, t, avx512).kc >= 256);
      GemmPlan narrow = planGemm(128, 10, 512, t, avx512);  // N = 10: the fewest vectors that cover it
      CHECK(narrow.nr == (10 + narrow.vl - 1) / narrow.vl * narrow.vl);
    }
  CHECK(planGemm(64, 64, 100, DType::F32, true).kc == 100);  // a short K is one block
}

TEST_CASE("GEMM engine: a narrow C (N of a few columns) on its own paths, every transpose, f32 and f64, with epilogues") {
  // N in {1, 3, 10, 12} (not whole vectors), M from one vector of rows to several with a tail, K from a
  // few depths to several blocks of KC; each transpose combination takes one of the two paths: dot
  // products along K (A row-major, B transposed) or vectors along M (the others).
  std::vector<GemmCase> group;
  const int64_t Ns[] = {1, 3, 10, 12}, Ms[] = {8, 17, 128}, Ks[] = {5, 300, 700};
  for (int i = 0; i < 48; ++i) {
    int64_t M = Ms[i % 3], N = Ns[i / 3 % 4], K = Ks[i / 12 % 3];
    Epi epi = Epi(i % 4);
    group.push_back({i % 5 == 4 ? 2 : 1, M, N, K, (i & 1) != 0, (i & 2) != 0, epi, i % 3 == 2 ? DType::F64 : DType::F32});
    if (M * N * K > 300000 && group.back().dtype == DType::F64) group.back().batch = 1;
  }
  checkGroup(group);
  for (const GemmCase& c : group) {
    GemmShape shape{c.batch, c.M, c.N, c.K, c.dtype};
    INFO(c.name());
    int64_t lanes = planGemm(shape).vl;  // the host's vector
    CHECK(usesNarrowPath(shape) == (c.N % lanes != 0 && c.M >= lanes));
    CHECK(usesDotPath(shape, c.ta, c.tb) == (usesNarrowPath(shape) && !c.ta && c.tb && c.K >= 16));
  }
}

TEST_CASE("GEMM engine: the narrow path's vectors along M give the general engine's bits") {
  // The same product with B's 10 columns, and with B padded by zero columns to 16 (whole vectors on AVX2
  // and AVX-512: the general engine): the first 10 columns must agree bit for bit, since the narrow path
  // sums each element over the engine's blocks of K in its order. K = 700 takes several blocks.
  for (bool ta : {false, true}) {
    Builder b("narrow-bits");
    int64_t M = 37, K = 700;
    Shape as = ta ? Shape{K, M} : Shape{M, K};
    Value a = b.input("a", {DType::F32, as});
    Value w = b.input("w", {DType::F32, {K, 10}});
    b.output("narrow", matmul(a, w, ta, false));
    b.output("wide", matmul(a, pad(w, {0, 0}, {0, 6}), ta, false));
    Graph g = b.finish();
    GemmShape narrow{1, M, 10, K, DType::F32}, wide{1, M, 16, K, DType::F32};
    REQUIRE(usesNarrowPath(narrow));
    REQUIRE(!usesNarrowPath(wide));
    TensorMap feeds = randomInputs(g, 5);
    TensorMap jit = runCompiled(g, feeds, {true, std::string(KILN_BUILD_DIR) + "/kiln-cache"});
    const HostTensor &n = jit.at("narrow"), &wd = jit.at("wide");
    int64_t differ = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t j = 0; j < 10; ++j) differ += n.data[size_t(m * 10 + j)] != wd.data[size_t(m * 16 + j)];
    INFO("transpose_a ", ta);
    CHECK(differ == 0);
    CHECK(n.data[0] != 0.0);  // something was computed
  }
}

}  // namespace kiln

namespace kiln {

namespace {

/// One convolution of the sweep, with its three ops (forward, gradient of the input, of the weights).
struct ConvCase {
  int64_t N, C, H, W, O, KH, KW, s, p;
  std::string name() const { return fmt::format("x[{},{},{},{}] w[{},{},{},{}] stride {} padding {}", N, C, H, W, O, C, KH, KW, s, p); }
};

std::vector<ConvCase> convCases() {
  const int64_t channels[] = {1, 3, 16, 65}, outs[] = {1, 5, 32, 65}, kernels[] = {1, 3, 5, 7}, strides[] = {1, 2, 3};
  std::vector<ConvCase> out;
  for (int i = 0; i < 36; ++i) {
    int64_t k = kernels[i % 4], kw = kernels[(i / 4 + i) % 4], s = strides[i % 3], p = std::min<int64_t>(i % 3, k - 1);
    int64_t H = std::max<int64_t>(k, 5 + i % 6), W = std::max<int64_t>(kw, 6 + i % 5);
    out.push_back({1 + i % 2, channels[i / 3 % 4], H, W, outs[i / 2 % 4], k, kw, s, p});
  }
  return out;
}

}  // namespace

TEST_CASE("GEMM engine: conv2d and both its gradients, strides 1-3, padding 0-2, kernels 1x1 to 7x7, channels 1 to 65") {
  Builder b("conv-sweep");
  std::vector<ConvCase> cs = convCases();
  for (size_t i = 0; i < cs.size(); ++i) {
    const ConvCase& c = cs[i];
    Value x = b.input(fmt::format("x{}", i), {DType::F32, {c.N, c.C, c.H, c.W}});
    Value w = b.input(fmt::format("w{}", i), {DType::F32, {c.O, c.C, c.KH, c.KW}});
    Value y = conv2d(x, w, {c.s, c.s}, {c.p, c.p});
    Value gy = b.input(fmt::format("g{}", i), y.type());
    ConvAttrs a{{c.s, c.s}, {c.p, c.p}, {}};
    // Every other one with a fused epilogue: on the register tile (a constant bias, or one per channel,
    // one value along a row of the GEMM's result), or element by element (a bias along the output's
    // width, which is not consecutive along a row of OH * OW).
    int64_t OH = y.dim(2), OW = y.dim(3);
    if (i % 6 == 1 || i % 6 == 5) y = relu(y + 0.5);
    if (i % 6 == 3) y = y + b.input(fmt::format("c{}", i), {DType::F32, {c.O, 1, 1}});
    if (i % 6 == 3 && OH > 1 && OW > 1) y = y + b.input(fmt::format("v{}", i), {DType::F32, {OW}});
    b.output(fmt::format("y{}", i), y);
    b.output(fmt::format("dx{}", i), b.add(Op::Conv2dGradInput, {gy, w}, a, x.type(), Site::current()));
    b.output(fmt::format("dw{}", i), b.add(Op::Conv2dGradWeight, {x, gy}, a, w.type(), Site::current()));
  }
  Graph g = b.finish();
  TensorMap feeds = randomInputs(g, 5), absFeeds = feeds;
  for (auto& [name, t] : absFeeds)
    for (double& v : t.data) v = std::fabs(v);
  TensorMap ref = evaluate(g, feeds, Precision::F64), bound = evaluate(g, absFeeds, Precision::F64);
  TensorMap jit = runCompiled(g, feeds, {true, std::string(KILN_BUILD_DIR) + "/kiln-cache"});
  double u = std::ldexp(1.0, -24);
  for (size_t i = 0; i < cs.size(); ++i)
    for (const char* what : {"y", "dx", "dw"}) {
      const ConvCase& c = cs[i];
      std::string name = fmt::format("{}{}", what, i);
      int64_t terms = std::string(what) == "y" ? c.C * c.KH * c.KW : std::string(what) == "dx" ? c.O * c.KH * c.KW
                                                                                                  : c.N * ref.at(fmt::format("y{}", i)).numel() / (c.N * c.O);
      double worst = 0;
      for (size_t e = 0; e < ref.at(name).data.size(); ++e) {
        // |sum| <= sum |w||x|: the bound of the products' sum holds for the biased relu output too.
        double tol = double(terms + 2) * u * (bound.at(name).data[e] + std::fabs(ref.at(name).data[e])) + 1e-30;
        worst = std::max(worst, std::fabs(jit.at(name).data[e] - ref.at(name).data[e]) / tol);
      }
      INFO(name, " ", c.name(), ": worst ", worst, " of its bound");
      CHECK(worst <= 1.0);
    }
}

}  // namespace kiln

namespace kiln {

TEST_CASE("GEMM engine: an epilogue on the register tile reads and writes bool tensors") {
  Builder b("bool-epilogue");
  Value y = matmul(b.input("a", {DType::F32, {5, 20}}), b.input("w", {DType::F32, {20, 33}}));
  Value keep = b.input("keep", {DType::Bool, {5, 33}});
  b.output("kept", select(keep, Operand(y), Operand(0.0)));
  b.output("positive", gt(y, 0.05));
  Graph g = b.finish();
  TensorMap feeds = randomInputs(g, 3);
  HostTensor& k = feeds.at("keep");
  for (size_t i = 0; i < k.data.size(); ++i) k.data[i] = double(i % 3 != 0);
  TensorMap ref = evaluate(g, feeds, Precision::F64);
  TensorMap jit = runCompiled(g, feeds, {true, std::string(KILN_BUILD_DIR) + "/kiln-cache"});
  CHECK(jit.at("positive").data == ref.at("positive").data);  // no element within rounding of 0.05 at this seed
  for (size_t i = 0; i < k.data.size(); ++i) {
    CHECK(jit.at("kept").data[i] == doctest::Approx(ref.at("kept").data[i]).epsilon(1e-5));
    if (k.data[i] == 0) CHECK(jit.at("kept").data[i] == 0);
  }
}

TEST_CASE("kiln kernels says where each fused contraction runs its epilogue") {
  Builder b("epilogues");
  Value a = b.input("a", {DType::F32, {16, 32}}), w = b.input("w", {DType::F32, {32, 48}});
  Value x = b.input("x", {DType::F32, {2, 3, 9, 9}}), k = b.input("k", {DType::F32, {4, 3, 3, 3}});
  b.output("biased", relu(matmul(a, w) + b.input("bias", {DType::F32, {48}})));
  Value y = matmul(a, b.input("w2", {DType::F32, {32, 48}}));  // another weight, so no common subexpression
  b.output("scalar", select(gt(y, 1e30), cast(cast(y, DType::I32), DType::F32), y) + 0.5);
  b.output("channels", conv2d(x, k, {1, 1}, {0, 0}) + b.input("cb", {DType::F32, {4, 1, 1}}));
  b.output("columns", conv2d(x, b.input("k2", {DType::F32, {4, 3, 3, 3}}), {1, 1}, {0, 0}) * b.input("wb", {DType::F32, {7}}));
  test::CliResult r = test::runKiln("kernels -", printGraph(b.finish()));
  INFO(r.out, r.err);
  REQUIRE(r.status == 0);
  auto count = [&](const std::string& s) {
    size_t n = 0;
    for (size_t at = r.out.find(s); at != std::string::npos; at = r.out.find(s, at + 1)) ++n;
    return n;
  };
  CHECK(count("epilogue on the register tile") == 2);  // the bias and ReLU; the channels' bias
  CHECK(count("epilogue element by element on the stored tile (%") == 2);
  CHECK(count(" cast cannot compute on vectors)") == 1);
  CHECK(count(" broadcast cannot compute on vectors)") == 1);  // wb: not consecutive along OH * OW
}

TEST_CASE("kiln kernels prints the GEMM every matmul and convolution runs as, with its plan") {
  std::string kir = "kiln 1\n%0 = input {name=\"x\"} : f32[2,1,8,8]\n%1 = input {name=\"w\"} : f32[4,1,3,3]\n"
                    "%2 = conv2d %0, %1 {stride=[1,1], padding=[0,0]} : f32[2,4,6,6]\n%3 = input {name=\"a\"} : f32[5,7]\n%4 = input {name=\"b\"} : f32[9,7]\n"
                    "%5 = matmul %3, %4 {transpose_b} : f32[5,9]\noutput \"y\" = %2\noutput \"z\" = %5\n";
  test::CliResult r = test::runKiln("kernels -", kir);
  INFO(r.out, r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("%2 gemm 2 x [4 x 36 x 9] f32: tile ") != std::string::npos);  // per sample: O x OH*OW x C*KH*KW
  CHECK(r.out.find("%5 gemm 1 x [5 x 9 x 7] f32: tile ") != std::string::npos);
  CHECK(r.out.find("in place") == std::string::npos);  // one product, and a transposed B: packed
  // Batched with a row-major B of whole panels: read in place (the sweep's batched cases check its values).
  test::CliResult batched = test::runKiln("kernels -", "kiln 1\n%0 = input {name=\"a\"} : f32[3,5,7]\n"
                                                       "%1 = input {name=\"b\"} : f32[3,7,64]\n%2 = matmul %0, %1 : f32[3,5,64]\n"
                                                       "output \"y\" = %2\n");
  CHECK(batched.out.find("%2 gemm 3 x [5 x 64 x 7] f32: tile ") != std::string::npos);
  CHECK(batched.out.find(", B read in place") != std::string::npos);
  // The attention's probs x v: with AVX2's 16 columns a panel's 128 depths, rows of 64 floats apart, fall
  // in 16 sets of L1, 8 lines each (packed: 2), so B is packed; with AVX-512's 64 the panel is B itself.
  GemmShape attention{64, 128, 64, 128};
  GemmPlan avx2, avx512;
  avx2.vl = 8, avx2.nr = 16, avx2.kc = 128, avx512.vl = 16, avx512.nr = 64, avx512.kc = 128;
  CHECK(!readsBInPlace(attention, true, avx2));
  CHECK(readsBInPlace(attention, true, avx512));
  CHECK(!readsBInPlace(attention, false, avx512));  // a transposed B is packed
  // One row against a transposed B (a linear layer on one token): dot products, nothing packed (the
  // sweep's M = 1, 2, 3 cases with B transposed check its values).
  test::CliResult gemv = test::runKiln("kernels -", "kiln 1\n%0 = input {name=\"x\"} : f32[1,40]\n"
                                                    "%1 = input {name=\"w\"} : f32[30,40]\n%2 = matmul %0, %1 {transpose_b} : f32[1,30]\n"
                                                    "output \"y\" = %2\n");
  CHECK(gemv.out.find("%2 gemm 1 x [1 x 30 x 40] f32: dot products along K (") != std::string::npos);
  // A classifier's head, C[128, 10]: dot products where both operands lie along K, else vectors along M.
  for (const char* attrs : {" {transpose_b}", "", " {transpose_a}"}) {
    bool tb = std::string(attrs) == " {transpose_b}", ta = std::string(attrs) == " {transpose_a}";
    test::CliResult head = test::runKiln(
        "kernels -", fmt::format("kiln 1\n%0 = input {{name=\"h\"}} : f32[{}]\n%1 = input {{name=\"w\"}} : f32[{}]\n"
                                 "%2 = matmul %0, %1{} : f32[128,10]\noutput \"y\" = %2\n",
                                 ta ? "512,128" : "128,512", tb ? "10,512" : "512,10", attrs));
    INFO(head.out, head.err);
    CHECK(head.out.find(tb ? "%2 gemm 1 x [128 x 10 x 512] f32: dot products along K (" : "%2 gemm 1 x [128 x 10 x 512] f32: narrow, vectors along M (") !=
          std::string::npos);
  }
  Graph g = test::kir(kir);
  std::optional<GemmShape> s = gemmShapeOf(g, NodeId{5});
  REQUIRE(s);
  CHECK(s->M == 5);
  CHECK(!gemmShapeOf(g, NodeId{0}));
}

}  // namespace kiln
