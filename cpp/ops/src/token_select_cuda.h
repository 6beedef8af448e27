// Host-side entry of the TokenSelect CUDA kernels (token_select.cu). Free of CUDA headers so the ORT glue builds
// with the C++ compiler alone. Every call enqueues on `stream` (a cudaStream_t); none synchronises.
#pragma once

#include <cstddef>
#include <cstdint>

namespace acc_ops {

// Longest sequence the kernels take (all N score keys of a sample sit in shared memory).
inline constexpr int64_t kTokenSelectMaxLength = 8192;

// Scratch bytes: keep counts [B] int64, then ranks [B, N] int32.
size_t TokenSelectScratchBytes(int64_t batch, int64_t length);

// Pass 1: rank of every position by score, and k_b = KeepCount(ratio, n_valid_b, min_keep,
// Σ_j mask[b,j]) into the scratch. Returns nullptr or a message (static storage).
const char* LaunchTokenSelectRank(const int64_t* mask, const float* score, const int64_t* n_valid, float ratio,
                                  int64_t min_keep, int64_t batch, int64_t length, void* scratch, void* stream);

// Pass 2: slots (kept in original order, then fillers), mask/positions outputs and the gathered hidden rows.
const char* LaunchTokenSelectGather(const void* hidden, const int64_t* positions, bool half, int64_t batch,
                                    int64_t length, int64_t width, int64_t k_max, const void* scratch,
                                    void* hidden_out, int64_t* mask_out, int64_t* positions_out, void* stream);

}  // namespace acc_ops
