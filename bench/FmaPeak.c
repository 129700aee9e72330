/* The machine's FMA peak for kiln_bench gemm: independent chains of fused multiply-adds on vectors of the
   host's widest float width (GCC vector extensions, compiled with -O3 -march=native: each statement of the
   loop body is one vfmadd on a register). AVX-512 gets 24 chains of 16 floats in zmm registers (32 of them);
   AVX2 gets 12 chains of 8 floats in ymm registers (16 of them, so the chains and the two constants fit).
   Both hide the FMA latency (4 cycles, 2 pipes) on every x86 core we know of. The chains are named
   variables, not an array: GCC keeps an array of vectors in memory. Returns the flops done; `sink` keeps
   the result alive. */
#include <stdint.h>

#if defined(__AVX512F__)
enum { kLanes = 16, kChains = 24 };
#else
enum { kLanes = 8, kChains = 12 };
#endif

typedef float vec __attribute__((vector_size(kLanes * sizeof(float))));

#define KILN_FMA4(a, b, c, d) a = a * m + k; b = b * m + k; c = c * m + k; d = d * m + k;

double kiln_bench_fma_flops(int64_t iterations, float* sink) {
  vec m, k;
  for (int i = 0; i < kLanes; ++i) m[i] = 1.0f - 1e-7f * (float)i, k[i] = 1e-7f;
  vec a0 = m, a1 = m + k, a2 = m + 2 * k, a3 = m + 3 * k, a4 = m + 4 * k, a5 = m + 5 * k;
  vec b0 = k, b1 = k + k, b2 = k * 3, b3 = k * 4, b4 = k * 5, b5 = k * 6;
#if defined(__AVX512F__)
  vec c0 = m * m, c1 = m * k, c2 = m * 3, c3 = m * 4, c4 = m * 5, c5 = m * 6;
  vec d0 = k * 7, d1 = k * 8, d2 = k * 9, d3 = k * 10, d4 = k * 11, d5 = k * 12;
#endif
  for (int64_t it = 0; it < iterations; ++it) {
    KILN_FMA4(a0, a1, a2, a3) KILN_FMA4(a4, a5, b0, b1) KILN_FMA4(b2, b3, b4, b5)
#if defined(__AVX512F__)
    KILN_FMA4(c0, c1, c2, c3) KILN_FMA4(c4, c5, d0, d1) KILN_FMA4(d2, d3, d4, d5)
#endif
    __asm__ volatile("" : "+x"(a0), "+x"(b0));  /* no reordering across iterations */
  }
  vec s = a0 + a1 + a2 + a3 + a4 + a5 + b0 + b1 + b2 + b3 + b4 + b5;
#if defined(__AVX512F__)
  s += c0 + c1 + c2 + c3 + c4 + c5 + d0 + d1 + d2 + d3 + d4 + d5;
#endif
  float t = 0;
  for (int i = 0; i < kLanes; ++i) t += s[i];
  *sink = t;
  return (double)iterations * kChains * kLanes * 2;
}
