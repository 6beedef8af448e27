// CUDA kernels of ai.acc::AccScore, flash-style: nothing N × N is stored, only [B, H, N] row statistics and column sums.
//   1. row_lse:    lse2[b,h,i] = log2 Σ_{j valid} 2^(s_ij)            per (b·h, query tile); s = scale·log2(e)·q_i·k_j
//   2. column_sum: col[b,h,j]  = Σ_{i valid} 2^(s_ij − lse2[i])        per (b·h, key tile), looping over query tiles
//   3. finish:     score[b,j]  = Σ_h col / (H · max(n_valid, 1)), −inf on padding, +inf at 0
// The same maths as the Triton kernels in modeling/kernels/_score_triton.py. Tiles of 64 queries × 64 keys, held
// transposed in shared memory ([d][64]); 256 threads, each computing a 4 × 4 block of logits in fp32 FMA.
// fp16 inputs with head size <= 128 take the tensor-core kernels of acc_score_wmma.cu for passes 1 and 2 instead
// (same outputs; ACC_ORT_OPS_CUDA_FMA=1 in the environment forces the FMA kernels, for comparisons).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "acc_score_cuda.h"
#include "acc_score_wmma.h"

namespace acc_ops {
namespace {

constexpr int kTile = 64;         // queries and keys per tile
constexpr int kLd = kTile + 4;    // padded row of a transposed tile (keeps float4 alignment, fewer bank conflicts)
constexpr int kThreads = 256;     // 16 × 16 threads, 4 × 4 logits each
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ float Load(const float* p) { return *p; }
__device__ __forceinline__ float Load(const __half* p) { return __half2float(*p); }

// tile[d][r] = x[row0 + r, head, d] for r < 64, zero past the sequence or the head width.
template <int D, typename T>
__device__ __forceinline__ void LoadTile(float* tile, const T* x, int64_t row0, int64_t length, int64_t row_stride,
                                         int head_dim) {
  for (int idx = threadIdx.x; idx < kTile * D; idx += kThreads) {
    const int r = idx / D, d = idx % D;
    float value = 0.0f;
    if (row0 + r < length && d < head_dim) value = Load(x + (row0 + r) * row_stride + d);
    tile[d * kLd + r] = value;
  }
}

// s[r][c] = Σ_d qs[d][ty·4 + r] · ks[d][tx·4 + c]
template <int D>
__device__ __forceinline__ void Logits(const float* qs, const float* ks, int ty, int tx, float (&s)[4][4]) {
#pragma unroll
  for (int r = 0; r < 4; ++r) {
#pragma unroll
    for (int c = 0; c < 4; ++c) s[r][c] = 0.0f;
  }
#pragma unroll 8
  for (int d = 0; d < D; ++d) {
    const float4 a = *reinterpret_cast<const float4*>(qs + d * kLd + ty * 4);
    const float4 b = *reinterpret_cast<const float4*>(ks + d * kLd + tx * 4);
    const float av[4] = {a.x, a.y, a.z, a.w};
    const float bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
    for (int r = 0; r < 4; ++r) {
#pragma unroll
      for (int c = 0; c < 4; ++c) s[r][c] = fmaf(av[r], bv[c], s[r][c]);
    }
  }
}

template <int D, typename T>
__global__ void __launch_bounds__(kThreads) RowLse(const T* query, const T* key, const int64_t* mask, float* lse2,
                                                   int64_t length, int heads, int head_dim, float scale2) {
  extern __shared__ float4 shared4[];
  float* qs = reinterpret_cast<float*>(shared4);
  float* ks = qs + D * kLd;
  float* key_ok = ks + D * kLd;  // 1 for a valid key, 0 for padding or past the end
  const int bh = blockIdx.x, b = bh / heads, h = bh % heads;
  const int64_t row_stride = static_cast<int64_t>(heads) * head_dim;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const T* q_base = query + static_cast<int64_t>(b) * length * row_stride + h * head_dim;
  const T* k_base = key + static_cast<int64_t>(b) * length * row_stride + h * head_dim;
  const int64_t* m = mask + static_cast<int64_t>(b) * length;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;

  LoadTile<D>(qs, q_base, i0, length, row_stride, head_dim);
  float row_max[4], row_sum[4];
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    row_max[r] = -1.0e30f;  // finite: a tile of only padded keys adds 0 and stays NaN-free
    row_sum[r] = 0.0f;
  }
  for (int64_t j0 = 0; j0 < length; j0 += kTile) {
    __syncthreads();  // previous key tile fully read
    LoadTile<D>(ks, k_base, j0, length, row_stride, head_dim);
    if (threadIdx.x < kTile) key_ok[threadIdx.x] = (j0 + threadIdx.x < length && m[j0 + threadIdx.x] != 0) ? 1.0f : 0.0f;
    __syncthreads();
    float s[4][4];
    Logits<D>(qs, ks, ty, tx, s);
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        s[r][c] = key_ok[tx * 4 + c] != 0.0f ? s[r][c] * scale2 : -INFINITY;
        tile_max = fmaxf(tile_max, s[r][c]);
      }
      const float new_max = fmaxf(row_max[r], tile_max);
      float sum = row_sum[r] * exp2f(row_max[r] - new_max);
#pragma unroll
      for (int c = 0; c < 4; ++c) sum += exp2f(s[r][c] - new_max);
      row_max[r] = new_max;
      row_sum[r] = sum;
    }
  }
  // Combine the 16 threads (tx) that share a row: lanes ty·16 .. ty·16+15 of one warp.
#pragma unroll
  for (int r = 0; r < 4; ++r) {
#pragma unroll
    for (int offset = 8; offset > 0; offset >>= 1) {
      const float other_max = __shfl_xor_sync(0xffffffffu, row_max[r], offset);
      const float other_sum = __shfl_xor_sync(0xffffffffu, row_sum[r], offset);
      const float new_max = fmaxf(row_max[r], other_max);
      row_sum[r] = row_sum[r] * exp2f(row_max[r] - new_max) + other_sum * exp2f(other_max - new_max);
      row_max[r] = new_max;
    }
    const int64_t i = i0 + ty * 4 + r;
    if (tx == 0 && i < length) {
      // A padded query gets +inf: 2^(s − inf) = 0, so it adds nothing to any column.
      lse2[static_cast<int64_t>(bh) * length + i] = m[i] != 0 ? row_max[r] + log2f(row_sum[r]) : INFINITY;
    }
  }
}

template <int D, typename T>
__global__ void __launch_bounds__(kThreads) ColumnSum(const T* query, const T* key, const float* lse2, float* column,
                                                      int64_t length, int heads, int head_dim, float scale2) {
  extern __shared__ float4 shared4[];
  float* qs = reinterpret_cast<float*>(shared4);
  float* ks = qs + D * kLd;
  float* row_lse = ks + D * kLd;
  const int bh = blockIdx.x, b = bh / heads, h = bh % heads;
  const int64_t row_stride = static_cast<int64_t>(heads) * head_dim;
  const int64_t j0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const T* q_base = query + static_cast<int64_t>(b) * length * row_stride + h * head_dim;
  const T* k_base = key + static_cast<int64_t>(b) * length * row_stride + h * head_dim;
  const float* lse = lse2 + static_cast<int64_t>(bh) * length;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;

  LoadTile<D>(ks, k_base, j0, length, row_stride, head_dim);
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t i0 = 0; i0 < length; i0 += kTile) {
    __syncthreads();  // previous query tile fully read
    LoadTile<D>(qs, q_base, i0, length, row_stride, head_dim);
    if (threadIdx.x < kTile) row_lse[threadIdx.x] = i0 + threadIdx.x < length ? lse[i0 + threadIdx.x] : INFINITY;
    __syncthreads();
    float s[4][4];
    Logits<D>(qs, ks, ty, tx, s);
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const float l = row_lse[ty * 4 + r];
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[c] += exp2f(fmaf(s[r][c], scale2, -l));
    }
  }
  // Σ over the 16 row groups (ty) through shared memory (the query tile is no longer needed).
  __syncthreads();
  float* partial = qs;  // [16][64]
#pragma unroll
  for (int c = 0; c < 4; ++c) partial[ty * kTile + tx * 4 + c] = acc[c];
  __syncthreads();
  if (threadIdx.x < kTile && j0 + threadIdx.x < length) {
    float total = 0.0f;
#pragma unroll
    for (int g = 0; g < 16; ++g) total += partial[g * kTile + threadIdx.x];
    column[static_cast<int64_t>(bh) * length + j0 + threadIdx.x] = total;
  }
}

__global__ void __launch_bounds__(kThreads) Finish(const float* column, const int64_t* mask, float* score,
                                                   int64_t length, int heads) {
  __shared__ float counts[kThreads / 32];
  const int b = blockIdx.x;
  const int64_t* m = mask + static_cast<int64_t>(b) * length;
  float count = 0.0f;
  for (int64_t j = threadIdx.x; j < length; j += kThreads) count += m[j] != 0 ? 1.0f : 0.0f;
  for (int offset = 16; offset > 0; offset >>= 1) count += __shfl_xor_sync(0xffffffffu, count, offset);
  if (threadIdx.x % 32 == 0) counts[threadIdx.x / 32] = count;
  __syncthreads();
  float n_valid = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w) n_valid += counts[w];
  const float denominator = fmaxf(n_valid, 1.0f) * static_cast<float>(heads);
  for (int64_t j = threadIdx.x; j < length; j += kThreads) {
    float total = 0.0f;
    for (int h = 0; h < heads; ++h) total += column[(static_cast<int64_t>(b) * heads + h) * length + j];
    const float value = m[j] != 0 ? total / denominator : -INFINITY;
    score[static_cast<int64_t>(b) * length + j] = j == 0 ? INFINITY : value;
  }
}

// Passes 1 and 2 on CUDA cores (fp32 FMA), for fp32 inputs, and fp16 inputs when the tensor-core path is off.
template <int D, typename T>
const char* Launch(const T* query, const T* key, const int64_t* mask, int64_t batch, int64_t length, int64_t heads,
                   int64_t head_dim, float scale, float* lse2, float* column, cudaStream_t stream) {
  const size_t shared_bytes = (2 * D * kLd + kTile) * sizeof(float);
  // Above 48 KiB (D = 128) a kernel must opt in; the call is cheap and does not synchronise.
  if (cudaFuncSetAttribute(RowLse<D, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)) != cudaSuccess ||
      cudaFuncSetAttribute(ColumnSum<D, T>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)) != cudaSuccess) {
    return "AccScore: cannot reserve shared memory for the CUDA kernels (cudaFuncSetAttribute failed)";
  }
  const dim3 grid(static_cast<unsigned>(batch * heads), static_cast<unsigned>((length + kTile - 1) / kTile));
  const float scale2 = scale * kLog2e;
  RowLse<D, T><<<grid, kThreads, shared_bytes, stream>>>(query, key, mask, lse2, length, static_cast<int>(heads),
                                                          static_cast<int>(head_dim), scale2);
  ColumnSum<D, T><<<grid, kThreads, shared_bytes, stream>>>(query, key, lse2, column, length, static_cast<int>(heads),
                                                             static_cast<int>(head_dim), scale2);
  return nullptr;
}

template <typename T>
const char* Dispatch(const void* query, const void* key, const int64_t* mask, int64_t batch, int64_t length,
                     int64_t heads, int64_t head_dim, float scale, float* lse2, float* column, cudaStream_t stream) {
  const T* q = static_cast<const T*>(query);
  const T* k = static_cast<const T*>(key);
  if (head_dim <= 32) return Launch<32>(q, k, mask, batch, length, heads, head_dim, scale, lse2, column, stream);
  if (head_dim <= 64) return Launch<64>(q, k, mask, batch, length, heads, head_dim, scale, lse2, column, stream);
  if (head_dim <= 128) return Launch<128>(q, k, mask, batch, length, heads, head_dim, scale, lse2, column, stream);
  return "AccScore: the CUDA kernel supports head sizes up to 128 (query width / num_heads)";
}

// Read at every launch (not cached) so a process can compare both paths on one session.
bool FmaForced() {
  const char* value = std::getenv("ACC_ORT_OPS_CUDA_FMA");
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

}  // namespace

size_t AccScoreScratchBytes(int64_t batch, int64_t length, int64_t heads) {
  return 2 * static_cast<size_t>(batch * heads * length) * sizeof(float);
}

const char* LaunchAccScore(const void* query, const void* key, const int64_t* mask, bool half, int64_t batch,
                           int64_t length, int64_t heads, int64_t head_dim, float scale, void* scratch, float* score,
                           void* stream) {
  if (batch == 0 || length == 0) return nullptr;
  if (batch * heads > 0x7fffffff || (length + kTile - 1) / kTile > 65535) {
    return "AccScore: batch × heads or the sequence length is beyond the CUDA grid limits";
  }
  float* lse2 = static_cast<float*>(scratch);
  float* column = lse2 + batch * heads * length;
  auto cuda_stream = static_cast<cudaStream_t>(stream);
  const char* error = nullptr;
  if (half && head_dim <= kWmmaMaxHeadDim && !FmaForced()) {
    error = LaunchRowColumnWmma(query, key, mask, batch, length, heads, head_dim, scale * kLog2e, lse2, column, stream);
  } else if (half) {
    error = Dispatch<__half>(query, key, mask, batch, length, heads, head_dim, scale, lse2, column, cuda_stream);
  } else {
    error = Dispatch<float>(query, key, mask, batch, length, heads, head_dim, scale, lse2, column, cuda_stream);
  }
  if (error != nullptr) return error;
  Finish<<<static_cast<unsigned>(batch), kThreads, 0, cuda_stream>>>(column, mask, score, length, static_cast<int>(heads));
  if (cudaGetLastError() != cudaSuccess) return "AccScore: a CUDA kernel launch failed";
  return nullptr;
}

}  // namespace acc_ops
