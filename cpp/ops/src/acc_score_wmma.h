// Tensor-core (WMMA) row-lse and column-sum kernels of ai.acc::AccScore for fp16 inputs (acc_score_wmma.cu).
// Free of CUDA headers; included by acc_score.cu, which picks this path and then runs the shared finish kernel.
#pragma once

#include <cstdint>

namespace acc_ops {

// Largest head size the WMMA kernels take (any size up to it: padded with zeros to 32, 64 or 128 in shared memory).
constexpr int64_t kWmmaMaxHeadDim = 128;

// Enqueues the row-lse and column-sum kernels for fp16 query/key [B, N, H·head_dim] on `stream` (a cudaStream_t):
// fills lse2 and column ([B, H, N] float each) exactly as the fp32 FMA kernels do (scale2 = scale·log2 e).
// Returns nullptr, or a message (static storage) when shared memory cannot be reserved.
const char* LaunchRowColumnWmma(const void* query, const void* key, const int64_t* mask, int64_t batch,
                                int64_t length, int64_t heads, int64_t head_dim, float scale2, float* lse2,
                                float* column, void* stream);

}  // namespace acc_ops
