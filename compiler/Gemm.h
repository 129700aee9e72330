// The GEMM engine's plan: the register tile and cache blocks chosen for one matmul from its shape and the
// host (compiler/Gemm.cpp emits the packed, blocked kernel; lowerMatmul in compiler/Lowering.h is its
// entry point).
#pragma once

#include <cstdint>
#include <string>

#include "ir/Types.h"

namespace kiln {

/// How one matmul is blocked: an MR x NR register tile of MR x NR/VL vector accumulators, and cache
/// blocks of KC (the contracted dimension), MC rows of A and NC columns of B.
struct GemmPlan {
  int64_t vl = 16;  ///< elements per vector register
  int64_t mr = 1;   ///< rows of the register tile
  int64_t nr = 16;  ///< columns of the register tile, a multiple of vl
  int64_t kc = 1;   ///< depth of a packed block
  int64_t mc = 1;   ///< rows of A packed at once, a multiple of mr
  int64_t nc = 16;  ///< columns of B packed at once, a multiple of nr
  /// "tile 12x32 (16 lanes), blocks kc 224 mc 576 nc 512".
  std::string str() const;
};

/// The plan for C[M,N] = A[M,K] B[K,N] in `dtype` (f32 or f64), with AVX-512 vectors or else AVX2's: the
/// tile with the least padded work per load, KC from L1, MC from L2, NC from a share of L3.
GemmPlan planGemm(int64_t M, int64_t N, int64_t K, DType dtype, bool avx512);

}  // namespace kiln
