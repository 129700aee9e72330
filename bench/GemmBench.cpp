// kiln_bench gemm: kiln's matmul kernels at the shapes of the models' training steps, beside OpenBLAS's
// cblas_sgemm and oneDNN's dnnl_sgemm in the same process (both loaded with dlopen, so they stay bench-only:
// Debian's libopenblas0-pthread and the libdnnl that python3-torch brings), and the FMA peak probed in the
// same run. One thread each. Prints one JSON line per shape and a summary; medians of interleaved repeats.
#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include <fmt/format.h>

#include "compiler/HostTensor.h"
#include "compiler/ParamInit.h"
#include "compiler/Pipeline.h"
#include "ir/Builder.h"
#include "ir/Error.h"
#include "models/Models.h"
#include "passes/Autodiff.h"
#include "passes/Optimizer.h"

extern "C" double kiln_bench_fma_flops(int64_t iterations, float* sink);

namespace kiln {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

/// One matmul shape of a training step: C[M,N] = op(A) op(B), `batch` times.
struct GemmShape {
  int64_t batch, M, N, K;
  bool ta, tb;
  auto key() const { return std::tuple(batch, M, N, K, ta, tb); }
  double flops() const { return 2.0 * double(batch * M * N * K); }
};

/// The f32 matmul shapes of `model`'s training step (SGD with momentum) at its default batch.
std::vector<GemmShape> trainingShapes(const ModelSpec& model) {
  OptimizerOptions o;
  o.kind = "sgd-momentum";
  Graph g = addOptimizer(autodiff(model.build(model.defaultBatch)), o);
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t, bool, bool>> seen;
  std::vector<GemmShape> out;
  for (NodeId id : g.nodesWithOp(Op::Matmul)) {
    const Node& n = g[id];
    auto& a = std::get<MatmulAttrs>(n.attrs);
    const Shape& s = n.type.shape;
    size_t r = s.size();
    const Shape& as = g[n.inputs[0]].type.shape;
    GemmShape sh{numel(Shape(s.begin(), s.end() - 2)), s[r - 2], s[r - 1], as[r - (a.transpose_a ? 2 : 1)],
                 a.transpose_a, a.transpose_b};
    if (n.type.dtype == DType::F32 && seen.insert(sh.key()).second) out.push_back(sh);
  }
  return out;
}

/// A shape written [BATCHx]MxNxK[:ta][:tb] (e.g. 2048x1024x256:tb), or nothing for a model's name.
std::optional<GemmShape> parseShape(const std::string& text) {
  std::vector<int64_t> dims;
  GemmShape s{1, 0, 0, 0, false, false};
  size_t at = 0;
  while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data() + at, text.data() + text.size(), v);
    if (ec != std::errc() || v < 1 || v > (1 << 16)) throw Error(fmt::format("gemm shape '{}': dimensions are 1 to 65536", text));
    dims.push_back(v);
    at = size_t(end - text.data());
    if (at < text.size() && text[at] == 'x') ++at;
  }
  if (dims.empty()) return std::nullopt;
  for (std::string_view rest(text.data() + at); !rest.empty(); rest.remove_prefix(3)) {
    if (rest.substr(0, 3) == ":ta") s.ta = true;
    else if (rest.substr(0, 3) == ":tb") s.tb = true;
    else throw Error(fmt::format("gemm shape '{}': expected [BATCHx]MxNxK[:ta][:tb]", text));
  }
  if (dims.size() != 3 && dims.size() != 4) throw Error(fmt::format("gemm shape '{}': expected [BATCHx]MxNxK[:ta][:tb]", text));
  if (dims.size() == 4) s.batch = dims[0];
  s.M = dims[dims.size() - 3], s.N = dims[dims.size() - 2], s.K = dims[dims.size() - 1];
  return s;
}

/// The FMA peak of `threads` cores in GFLOP/s: the best of a few runs of the probe on every thread at once.
double fmaPeak(int threads) {
  std::vector<float> sink(static_cast<size_t>(threads));
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    std::vector<std::thread> others;
    for (int t = 1; t < threads; ++t) others.emplace_back([&, t] { kiln_bench_fma_flops(20'000'000, &sink[size_t(t)]); });
    double flops = kiln_bench_fma_flops(20'000'000, &sink[0]) * threads;
    for (std::thread& th : others) th.join();
    best = std::max(best, flops / secondsSince(t0) / 1e9);
  }
  return best;
}

using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using DnnlSgemmFn = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                            float, float*, int64_t);

/// A peer library's sgemm, if it loads.
struct Peers {
  SgemmFn openblas = nullptr;
  DnnlSgemmFn dnnl = nullptr;
  std::string openblasCore = "not found";

  explicit Peers(int threads) {
    // A healthy peer chooses its own kernels: a shell's OPENBLAS_CORETYPE=Haswell (these machines set it)
    // held OpenBLAS to its AVX2 kernels at half its AVX-512 speed. It reads them when it loads, below.
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("OPENBLAS_L2_SIZE");
    if (void* h = dlopen("libopenblas.so.0", RTLD_NOW)) {
      openblas = SgemmFn(dlsym(h, "cblas_sgemm"));
      if (auto setThreads = (void (*)(int))dlsym(h, "openblas_set_num_threads")) setThreads(threads);
      if (auto core = (char* (*)())dlsym(h, "openblas_get_corename")) openblasCore = core();
    }
    if (void* h = dlopen("libdnnl.so.2", RTLD_NOW)) dnnl = DnnlSgemmFn(dlsym(h, "dnnl_sgemm"));
  }
};

/// Row-major C = op(A) op(B) by a peer, batch after batch.
void peerGemm(const Peers& p, bool dnnl, const GemmShape& s, const std::vector<float>& A, const std::vector<float>& B,
              std::vector<float>& C) {
  int64_t lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
  for (int64_t b = 0; b < s.batch; ++b) {
    const float* a = A.data() + b * s.M * s.K;
    const float* bb = B.data() + b * s.K * s.N;
    float* c = C.data() + b * s.M * s.N;
    if (dnnl) p.dnnl(s.ta ? 'T' : 'N', s.tb ? 'T' : 'N', s.M, s.N, s.K, 1.0f, a, lda, bb, ldb, 0.0f, c, s.N);
    else p.openblas(101, s.ta ? 112 : 111, s.tb ? 112 : 111, int(s.M), int(s.N), int(s.K), 1.0f, a, int(lda), bb, int(ldb), 0.0f, c, int(s.N));
  }
}

/// GFLOP/s of kiln, OpenBLAS and oneDNN on `s` (medians of `repeats` interleaved rounds), and the largest
/// difference of kiln's result from OpenBLAS's relative to the result's largest magnitude.
void benchShape(const Peers& peers, const GemmShape& s, int repeats, double peak, int threads) {
  Builder bld("gemm");
  Shape as = s.ta ? Shape{s.K, s.M} : Shape{s.M, s.K}, bs = s.tb ? Shape{s.N, s.K} : Shape{s.K, s.N};
  if (s.batch > 1) as.insert(as.begin(), s.batch), bs.insert(bs.begin(), s.batch);
  bld.output("c", matmul(bld.input("a", {DType::F32, as}), bld.input("b", {DType::F32, bs}), s.ta, s.tb));
  Graph g = bld.finish();
  CompileOptions opts;
  opts.threads = threads;
  std::unique_ptr<Executable> exe = compileGraph(g, opts);
  TensorMap in = randomInputs(g, 7);
  exe->set("a", toStored(in.at("a")));
  exe->set("b", toStored(in.at("b")));
  std::vector<float> A(in.at("a").data.begin(), in.at("a").data.end()), B(in.at("b").data.begin(), in.at("b").data.end());
  std::vector<float> C(size_t(s.batch * s.M * s.N));
  // Enough runs per round for about 20 ms.
  int inner = std::max(1, int(0.02 / (s.flops() / (peak * 1e9 * 0.5))));
  std::vector<double> kiln, openblas, dnnl;
  // On several threads, each library's workers spin for a while after its calls (OpenBLAS's for up to
  // 2^28 cycles, OpenMP's for oneDNN, kiln's for 200 us) and would take cores from the next library timed:
  // a pause before each lets them fall asleep.
  // Then one untimed call wakes them again, so that a round times the library at work rather than its
  // wake-up: kiln's worker, woken after the pause, was placed on the core of the thread that woke it and
  // shared that core for most of a run (see ThreadPool::steerSleepers), and a round was one run of the
  // training shapes (2048x1024x256 on 2 threads: 80-90 GFLOP/s in most rounds, 120-150 in the rest).
  auto timed = [&](std::vector<double>& into, const std::function<void()>& call) {
    if (threads > 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      call();
    }
    auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) call();
    into.push_back(s.flops() * inner / secondsSince(t0) / 1e9);
  };
  for (int r = 0; r < repeats; ++r) {
    timed(kiln, [&] { exe->run(); });
    if (peers.openblas) timed(openblas, [&] { peerGemm(peers, false, s, A, B, C); });
    if (peers.dnnl) timed(dnnl, [&] { peerGemm(peers, true, s, A, B, C); });
  }
  double worst = 0, scale = 0;
  if (peers.openblas) {
    peerGemm(peers, false, s, A, B, C);
    HostTensor k = fromStored(exe->output("c"), "c");
    for (size_t i = 0; i < C.size(); ++i) {
      worst = std::max(worst, std::fabs(k.data[i] - double(C[i])));
      scale = std::max(scale, std::fabs(double(C[i])));
    }
  }
  std::cout << fmt::format(
      "{{\"batch\": {}, \"M\": {}, \"N\": {}, \"K\": {}, \"ta\": {}, \"tb\": {}, \"kiln_gflops\": {:.1f}, "
      "\"kiln_peak\": {:.3f}, \"openblas_gflops\": {:.1f}, \"dnnl_gflops\": {:.1f}, \"max_diff\": {:.2g}}}\n",
      s.batch, s.M, s.N, s.K, s.ta, s.tb, median(kiln), median(kiln) / peak, median(openblas), median(dnnl),
      scale > 0 ? worst / scale : 0.0);
}

}  // namespace

/// kiln_bench gemm [MODEL|SHAPE ...] [--repeats N] [--threads N]: the entry point (bench/StepBench.cpp
/// dispatches here). oneDNN takes its threads from OMP_NUM_THREADS, which the caller sets.
int gemmBench(const std::vector<std::string>& models, int repeats, int threads) {
  Peers peers(threads);
  double peak = fmaPeak(threads);
  std::cout << fmt::format("{{\"threads\": {}, \"fma_peak_gflops\": {:.1f}, \"openblas_core\": \"{}\", \"dnnl\": {}}}\n", threads,
                           peak, peers.openblasCore, peers.dnnl != nullptr);
  for (const std::string& name : models) {
    if (std::optional<GemmShape> one = parseShape(name)) benchShape(peers, *one, repeats, peak, threads);
    else for (const GemmShape& s : trainingShapes(findModel(name))) benchShape(peers, s, repeats, peak, threads);
  }
  return 0;
}

}  // namespace kiln
