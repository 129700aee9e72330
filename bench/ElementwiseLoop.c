/* The hand-written C loop that kiln's fused element-wise kernel is compared with (bench/StepBench.cpp):
   y = relu(a * b + c) * 0.5 + d. Compiled with -O3 -march=native -fno-trapping-math (see CMakeLists.txt). */
#include <stdint.h>

void kiln_bench_c_loop(const float* a, const float* b, const float* c, const float* d, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float t = a[i] * b[i] + c[i];
    y[i] = (t > 0 ? t : 0) * 0.5f + d[i];
  }
}
