#include <cuda_runtime.h>

#include "mask_widen.h"

namespace acc_trt {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) WidenMask(const int32_t* in, int64_t* out, int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < count; i += stride) out[i] = in[i];
}

}  // namespace

const char* LaunchWidenMask(const int32_t* in, int64_t* out, int64_t count, void* stream) {
  if (count <= 0) return nullptr;
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  const unsigned grid = static_cast<unsigned>(blocks < 4096 ? blocks : 4096);
  WidenMask<<<grid, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(in, out, count);
  return cudaGetLastError() == cudaSuccess ? nullptr : "AccScore: the int32 -> int64 mask copy failed to launch";
}

}  // namespace acc_trt
