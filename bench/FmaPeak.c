/* The machine's FMA peak for kiln_bench gemm: 24 independent chains of fused multiply-adds on 16-float
   vectors (GCC vector extensions, compiled with -O3 -march=native: each statement of the loop body is one
   vfmadd on a zmm register), enough to hide the FMA latency on every x86 core we know of. Returns the
   flops done; `sink` keeps the result alive. */
#include <stdint.h>

typedef float v16 __attribute__((vector_size(64)));

#define KILN_FMA4(a, b, c, d) a = a * m + k; b = b * m + k; c = c * m + k; d = d * m + k;

double kiln_bench_fma_flops(int64_t iterations, float* sink) {
  v16 m, k;
  for (int i = 0; i < 16; ++i) m[i] = 1.0f - 1e-7f * (float)i, k[i] = 1e-7f;
  v16 a0 = m, a1 = m + k, a2 = m + 2 * k, a3 = m + 3 * k, a4 = m + 4 * k, a5 = m + 5 * k;
  v16 b0 = k, b1 = k + k, b2 = k * 3, b3 = k * 4, b4 = k * 5, b5 = k * 6;
  v16 c0 = m * m, c1 = m * k, c2 = m * 3, c3 = m * 4, c4 = m * 5, c5 = m * 6;
  v16 d0 = k * 7, d1 = k * 8, d2 = k * 9, d3 = k * 10, d4 = k * 11, d5 = k * 12;
  for (int64_t it = 0; it < iterations; ++it) {
    KILN_FMA4(a0, a1, a2, a3) KILN_FMA4(a4, a5, b0, b1) KILN_FMA4(b2, b3, b4, b5)
    KILN_FMA4(c0, c1, c2, c3) KILN_FMA4(c4, c5, d0, d1) KILN_FMA4(d2, d3, d4, d5)
    __asm__ volatile("" : "+v"(a0), "+v"(b0), "+v"(c0), "+v"(d0));  /* no reordering across iterations */
  }
  v16 s = a0 + a1 + a2 + a3 + a4 + a5 + b0 + b1 + b2 + b3 + b4 + b5 + c0 + c1 + c2 + c3 + c4 + c5 + d0 + d1 + d2 + d3 + d4 + d5;
  float t = 0;
  for (int i = 0; i < 16; ++i) t += s[i];
  *sink = t;
  return (double)iterations * 24 * 16 * 2;
}
