// Host-side entry of the CUDA kernels (acc_score.cu). Free of CUDA headers so the ORT glue builds with the C++
// compiler alone.
#pragma once

#include <cstddef>
#include <cstdint>

namespace acc_ops {

// Scratch bytes LaunchAccScore needs: lse and per-head column sums, [B, H, N] float each (nothing N × N).
size_t AccScoreScratchBytes(int64_t batch, int64_t length, int64_t heads);

// Enqueues the three kernels on `stream` (a cudaStream_t); no host synchronisation. Returns nullptr, or a message
// (static storage) when the shape is unsupported or a launch failed.
const char* LaunchAccScore(const void* query, const void* key, const int64_t* mask, bool half, int64_t batch,
                           int64_t length, int64_t heads, int64_t head_dim, float scale, void* scratch, float* score,
                           void* stream);

}  // namespace acc_ops
