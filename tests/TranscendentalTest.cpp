// The JIT's polynomial exp, log, tanh, erf and sigmoid (f32) against libm in f64, over the whole f32 range
// and the special values; the bounds are those documented in compiler/Transcendental.h.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "compiler/ParamInit.h"
#include "compiler/Pipeline.h"
#include "ir/Builder.h"

namespace kiln {

namespace test {
CompileOptions cachedOptions();
}

namespace {

float fromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

/// Special values, every power of two with neighbours, a dense sweep of [lo, hi], and random bit patterns.
std::vector<double> samples(double lo, double hi) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<double> v = {0.0, -0.0, inf, -inf, NAN, 1e-45, -1e-45, 1e-40, -1e-40, 1.17549435e-38, 3.4028235e38, -3.4028235e38, 1.0, -1.0};
  for (int e = -149; e <= 127; ++e)
    for (double m : {1.0, 1.0000001, 1.5, 1.9999999}) v.push_back(std::ldexp(m, e)), v.push_back(-std::ldexp(m, e));
  for (int i = 0; i <= 200000; ++i) v.push_back(double(float(lo + (hi - lo) * i / 200000.0)));
  Rng rng(17);
  for (int i = 0; i < 100000; ++i) {
    float f = fromBits(uint32_t(rng.next()));
    if (!std::isnan(f)) v.push_back(f);
  }
  for (double& x : v) x = double(float(x));  // the inputs are f32: the reference must see the same values
  return v;
}

struct Measured {
  double maxRel = 0, maxAbsNearZeroResult = 0;
  int64_t wrongSpecial = 0;
  double worstX = 0, worstGot = 0;
};

}  // namespace

TEST_CASE("JIT transcendentals: error bounds against libm over the f32 range") {
  struct Fn {
    std::string name;
    Op op;
    double (*ref)(double);
    double lo, hi, relBound;
  };
  const Fn fns[] = {
      {"exp", Op::Exp, [](double x) { return std::exp(x); }, -104, 89, 1.5e-7},
      {"log", Op::Log, [](double x) { return std::log(x); }, 1e-6, 100, 1.5e-7},
      {"tanh", Op::Tanh, [](double x) { return std::tanh(x); }, -10, 10, 2e-7},
      {"erf", Op::Erf, [](double x) { return std::erf(x); }, -5, 5, 2.5e-7},
      {"sigmoid", Op::Sigmoid, [](double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }, -104, 20, 2.5e-7},
  };
  for (const Fn& fn : fns) {
    std::vector<double> xs = samples(fn.lo, fn.hi);
    Builder b("t");
    Value x = b.input("x", {DType::F32, {int64_t(xs.size())}});
    b.output("y", b.add(fn.op, {x}, NoAttrs{}, Site::current()));
    auto exe = compileGraph(b.finish(), test::cachedOptions());
    exe->set("x", toStored(HostTensor(DType::F32, {int64_t(xs.size())}, xs)));
    exe->run();
    HostTensor y = fromStored(exe->output("y"), "y");
    Measured m;
    for (size_t i = 0; i < xs.size(); ++i) {
      double want = fn.ref(xs[i]), got = y.data[i];
      double wantF = double(float(want));  // the best an f32 result can be
      if (std::isnan(want) || std::isinf(wantF) || wantF == 0) {  // special results must match exactly
        bool same = (std::isnan(want) && std::isnan(got)) || got == wantF;
        if (!same && !(wantF == 0 && std::fabs(got) <= 1.5e-45)) {
          m.wrongSpecial++;
          INFO(fn.name, "(", xs[i], ") = ", got, ", want ", want);
          CHECK(same);
        }
        continue;
      }
      if (std::fabs(want) < 1.17549435e-38) {  // denormal results: absolute error in units of 2^-149
        m.maxAbsNearZeroResult = std::max(m.maxAbsNearZeroResult, std::fabs(got - want) / 1.401298464e-45);
        continue;
      }
      double rel = std::fabs(got - want) / std::fabs(want);
      if (fn.op == Op::Log && std::fabs(want) < 1e-3) rel = std::fabs(got - want) / 1e-3;  // near x = 1: absolute 1e-10
      if (rel > m.maxRel) m.worstX = xs[i], m.worstGot = got;
      m.maxRel = std::max(m.maxRel, rel);
    }
    MESSAGE(fn.name, ": ", xs.size(), " samples, max relative error ", m.maxRel, " (at x = ", m.worstX, ": ", m.worstGot,
            ", libm ", fn.ref(m.worstX), "), denormal results within ", m.maxAbsNearZeroResult, " units of 2^-149");
    CHECK(m.maxRel <= fn.relBound);
    CHECK(m.maxAbsNearZeroResult <= 1.0);
    CHECK(m.wrongSpecial == 0);
  }
}

}  // namespace kiln
