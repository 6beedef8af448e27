// Tensor-core path of ai.acc::AccScore for fp16 query/key: the same two passes as the fp32 FMA kernels of
// acc_score.cu (row log-sum-exp, then column sums of the probabilities; nothing N × N stored), with the logits of
// each 64 × 64 tile computed by nvcuda::wmma 16×16×16 fp16 fragments into fp32 accumulators (fp16·fp16 products are
// exact in fp32, so only the summation order differs from the FMA path) and staged through an fp32 shared tile.
//   row_lse:    block = (b·h, 64-query tile); Q tile once; per 64-key tile: K tile, S = Q·Kᵀ, online max/sum.
//   column_sum: block = (b·h, 64-key tile); K tile once; per 64-query tile: S = Q·Kᵀ, Σ_i 2^(S·scale2 − lse2_i).
// 4 warps; warp w owns query rows 16w .. 16w+15 of a tile (its 16 × 64 logits), so the logits tile needs only warp
// synchronisation. Head sizes up to 128 are zero-padded to D = 32, 64 or 128 (zeros add nothing to q·k); rows past
// the sequence are zero and masked. Tiles whose keys (row pass) or queries (column pass) are all padding are skipped:
// they add exactly 0, so the output is unchanged.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cmath>
#include <cstdint>

#include "acc_score_wmma.h"

namespace acc_ops {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kTile = 64;                // queries and keys per tile
constexpr int kFrag = 16;                // WMMA m = n = k
constexpr int kWarps = kTile / kFrag;    // one 16-row strip of the tile per warp
constexpr int kThreads = 32 * kWarps;
constexpr int kLdS = kTile + 4;          // fp32 logits row: a multiple of 4 floats (store_matrix_sync), banks shifted
constexpr unsigned kFull = 0xffffffffu;

// Shared memory of both kernels, in bytes; every region starts on 128 bytes (WMMA pointers need 32).
template <int D>
struct Layout {
  static constexpr int kLd = D + 8;  // fp16 row: a multiple of 8 halves (load_matrix_sync, 16-byte stores)
  static constexpr size_t kTileBytes = kTile * kLd * sizeof(__half);
  static constexpr size_t kQ = 0;
  static constexpr size_t kK = kTileBytes;
  static constexpr size_t kS = 2 * kTileBytes;
  static constexpr size_t kVec = kS + kTile * kLdS * sizeof(float);  // key flags or query lse, 64 floats
  static constexpr size_t kBytes = kVec + kTile * sizeof(float);
  static_assert(kTileBytes % 128 == 0 && kVec % 128 == 0, "shared regions must stay 128-byte aligned");
};

// tile[r][d] = x[row0 + r, d] (rows of one head, `row_stride` apart) for r < rows; zero past the sequence or the head
// width. `vector`: 16-byte loads (head_dim % 8 == 0, 16-byte aligned rows). Threads `first`, `first + step`, ...
template <int D>
__device__ __forceinline__ void LoadRows(__half* tile, const __half* x, int64_t row0, int rows, int64_t length,
                                         int64_t row_stride, int head_dim, bool vector, int first, int step) {
  constexpr int kLd = Layout<D>::kLd;
  if (vector) {
    constexpr int kChunks = D / 8;
    for (int idx = first; idx < rows * kChunks; idx += step) {
      const int r = idx / kChunks, d = (idx % kChunks) * 8;
      uint4 value = make_uint4(0u, 0u, 0u, 0u);
      if (row0 + r < length && d < head_dim) value = *reinterpret_cast<const uint4*>(x + (row0 + r) * row_stride + d);
      *reinterpret_cast<uint4*>(tile + r * kLd + d) = value;
    }
  } else {
    for (int idx = first; idx < rows * D; idx += step) {
      const int r = idx / D, d = idx % D;
      tile[r * kLd + d] = (row0 + r < length && d < head_dim) ? x[(row0 + r) * row_stride + d] : __ushort_as_half(0);
    }
  }
}

// logits[r][c] = Σ_d q_rows[r][d] · keys[c][d] for 16 query rows × 64 keys (one warp), fp32 accumulation.
template <int D>
__device__ __forceinline__ void WarpLogits(const __half* q_rows, const __half* keys, float* logits) {
  constexpr int kLd = Layout<D>::kLd;
  wmma::fragment<wmma::accumulator, kFrag, kFrag, kFrag, float> acc[kTile / kFrag];
#pragma unroll
  for (int n = 0; n < kTile / kFrag; ++n) wmma::fill_fragment(acc[n], 0.0f);
#pragma unroll
  for (int d0 = 0; d0 < D; d0 += kFrag) {
    wmma::fragment<wmma::matrix_a, kFrag, kFrag, kFrag, __half, wmma::row_major> a;
    wmma::load_matrix_sync(a, q_rows + d0, kLd);
#pragma unroll
    for (int n = 0; n < kTile / kFrag; ++n) {
      // Kᵀ as a column-major 16 (d) × 16 (keys) matrix: element (d, c) at keys[c·kLd + d].
      wmma::fragment<wmma::matrix_b, kFrag, kFrag, kFrag, __half, wmma::col_major> b;
      wmma::load_matrix_sync(b, keys + n * kFrag * kLd + d0, kLd);
      wmma::mma_sync(acc[n], a, b, acc[n]);
    }
  }
#pragma unroll
  for (int n = 0; n < kTile / kFrag; ++n) {
    wmma::store_matrix_sync(logits + n * kFrag, acc[n], kLdS, wmma::mem_row_major);
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads) RowLseWmma(const __half* query, const __half* key, const int64_t* mask,
                                                       float* lse2, int64_t length, int heads, int head_dim,
                                                       float scale2, bool vector) {
  using L = Layout<D>;
  extern __shared__ __align__(128) unsigned char shared[];
  __half* qs = reinterpret_cast<__half*>(shared + L::kQ);
  __half* ks = reinterpret_cast<__half*>(shared + L::kK);
  float* logits = reinterpret_cast<float*>(shared + L::kS);
  float* key_ok = reinterpret_cast<float*>(shared + L::kVec);  // 1 for a valid key, 0 for padding or past the end
  const int bh = blockIdx.x, b = bh / heads, h = bh % heads;
  const int64_t row_stride = static_cast<int64_t>(heads) * head_dim;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const __half* q_base = query + static_cast<int64_t>(b) * length * row_stride + h * head_dim;
  const __half* k_base = key + static_cast<int64_t>(b) * length * row_stride + h * head_dim;
  const int64_t* m = mask + static_cast<int64_t>(b) * length;
  float* out = lse2 + static_cast<int64_t>(bh) * length;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  // A tile of padded queries only: +inf for each (2^(s − inf) = 0 in the column pass), no logits needed.
  const bool query_ok = threadIdx.x < kTile && i0 + threadIdx.x < length && m[i0 + threadIdx.x] != 0;
  if (!__syncthreads_or(query_ok)) {
    if (threadIdx.x < kTile && i0 + threadIdx.x < length) out[i0 + threadIdx.x] = INFINITY;
    return;
  }
  LoadRows<D>(qs, q_base, i0, kTile, length, row_stride, head_dim, vector, threadIdx.x, kThreads);
  // Lane → row (lane % 16) of the warp's strip and one parity of columns; rows 8..15 walk the columns rotated by 2
  // so the 32 lanes read 32 distinct banks (row stride kLdS ≡ 4 mod 32).
  const int row = lane % 16, parity = lane / 16, shift = 2 * (row / 8);
  const float* my_logits = logits + (warp * kFrag + row) * kLdS;
  float row_max = -1.0e30f;  // finite: a tile of only padded keys adds 0 and stays NaN-free
  float row_sum = 0.0f;
  for (int64_t j0 = 0; j0 < length; j0 += kTile) {
    __syncthreads();  // previous key tile and flags fully read
    LoadRows<D>(ks, k_base, j0, kTile, length, row_stride, head_dim, vector, threadIdx.x, kThreads);
    bool any_key = false;
    if (threadIdx.x < kTile) {
      any_key = j0 + threadIdx.x < length && m[j0 + threadIdx.x] != 0;
      key_ok[threadIdx.x] = any_key ? 1.0f : 0.0f;
    }
    if (!__syncthreads_or(any_key)) continue;  // every key padded: adds exactly 0
    WarpLogits<D>(qs + warp * kFrag * L::kLd, ks, logits + warp * kFrag * kLdS);
    __syncwarp();
    float s[kTile / 2];
    float tile_max = -INFINITY;
#pragma unroll
    for (int c = 0; c < kTile / 2; ++c) {
      const int col = (2 * c + parity + shift) & (kTile - 1);
      s[c] = key_ok[col] != 0.0f ? my_logits[col] * scale2 : -INFINITY;
      tile_max = fmaxf(tile_max, s[c]);
    }
    const float new_max = fmaxf(row_max, tile_max);
    float sum = row_sum * exp2f(row_max - new_max);
#pragma unroll
    for (int c = 0; c < kTile / 2; ++c) sum += exp2f(s[c] - new_max);
    row_max = new_max;
    row_sum = sum;
  }
  // Combine the two lanes of a row (lane and lane ^ 16).
  const float other_max = __shfl_xor_sync(kFull, row_max, 16);
  const float other_sum = __shfl_xor_sync(kFull, row_sum, 16);
  const float new_max = fmaxf(row_max, other_max);
  row_sum = row_sum * exp2f(row_max - new_max) + other_sum * exp2f(other_max - new_max);
  const int64_t i = i0 + warp * kFrag + row;
  if (parity == 0 && i < length) out[i] = m[i] != 0 ? new_max + log2f(row_sum) : INFINITY;
}

template <int D>
__global__ void __launch_bounds__(kThreads) ColumnSumWmma(const __half* query, const __half* key,
                                                          const int64_t* mask, const float* lse2, float* column,
                                                          int64_t length, int heads, int head_dim, float scale2,
                                                          bool vector) {
  using L = Layout<D>;
  extern __shared__ __align__(128) unsigned char shared[];
  __half* qs = reinterpret_cast<__half*>(shared + L::kQ);
  __half* ks = reinterpret_cast<__half*>(shared + L::kK);
  float* logits = reinterpret_cast<float*>(shared + L::kS);
  float* row_lse = reinterpret_cast<float*>(shared + L::kVec);
  const int bh = blockIdx.x, b = bh / heads, h = bh % heads;
  const int64_t row_stride = static_cast<int64_t>(heads) * head_dim;
  const int64_t j0 = static_cast<int64_t>(blockIdx.y) * kTile;
  const __half* q_base = query + static_cast<int64_t>(b) * length * row_stride + h * head_dim;
  const __half* k_base = key + static_cast<int64_t>(b) * length * row_stride + h * head_dim;
  const int64_t* m = mask + static_cast<int64_t>(b) * length;
  const float* lse = lse2 + static_cast<int64_t>(bh) * length;
  float* out = column + static_cast<int64_t>(bh) * length;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  // A tile of padded keys only: the finish kernel never reads their sums (−inf there, +inf at j = 0).
  const bool key_ok = threadIdx.x < kTile && j0 + threadIdx.x < length && m[j0 + threadIdx.x] != 0;
  if (!__syncthreads_or(key_ok)) {
    if (threadIdx.x < kTile && j0 + threadIdx.x < length) out[j0 + threadIdx.x] = 0.0f;
    return;
  }
  LoadRows<D>(ks, k_base, j0, kTile, length, row_stride, head_dim, vector, threadIdx.x, kThreads);
  __syncthreads();
  // Each warp walks its own 16-query strip of every query tile: strip, lse and logits are warp-private.
  __half* my_q = qs + warp * kFrag * L::kLd;
  float* my_logits = logits + warp * kFrag * kLdS;
  float* my_lse = row_lse + warp * kFrag;
  float acc_low = 0.0f, acc_high = 0.0f;  // columns lane and lane + 32
  for (int64_t r0 = static_cast<int64_t>(warp) * kFrag; r0 < length; r0 += kTile) {
    const float l = lane < kFrag && r0 + lane < length ? lse[r0 + lane] : INFINITY;
    if (!__any_sync(kFull, l < INFINITY)) continue;  // every query padded (lse +inf): adds exactly 0
    __syncwarp();  // previous strip fully read
    if (lane < kFrag) my_lse[lane] = l;
    LoadRows<D>(my_q, q_base, r0, kFrag, length, row_stride, head_dim, vector, lane, 32);
    __syncwarp();
    WarpLogits<D>(my_q, ks, my_logits);
    __syncwarp();
#pragma unroll
    for (int r = 0; r < kFrag; ++r) {
      const float lr = my_lse[r];
      acc_low += exp2f(fmaf(my_logits[r * kLdS + lane], scale2, -lr));
      acc_high += exp2f(fmaf(my_logits[r * kLdS + lane + 32], scale2, -lr));
    }
  }
  // Σ over the 4 warps through shared memory (the logits tile is no longer needed).
  __syncthreads();
  float* partial = logits;  // [kWarps][64]
  partial[warp * kTile + lane] = acc_low;
  partial[warp * kTile + lane + 32] = acc_high;
  __syncthreads();
  if (threadIdx.x < kTile && j0 + threadIdx.x < length) {
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) total += partial[w * kTile + threadIdx.x];
    out[j0 + threadIdx.x] = total;
  }
}

template <int D>
const char* Launch(const __half* query, const __half* key, const int64_t* mask, int64_t batch, int64_t length,
                   int64_t heads, int64_t head_dim, float scale2, float* lse2, float* column, cudaStream_t stream) {
  const size_t shared_bytes = Layout<D>::kBytes;
  // Above 48 KiB (D = 128) a kernel must opt in; the call is cheap and does not synchronise.
  if (cudaFuncSetAttribute(RowLseWmma<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)) != cudaSuccess ||
      cudaFuncSetAttribute(ColumnSumWmma<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)) != cudaSuccess) {
    return "AccScore: cannot reserve shared memory for the tensor-core kernels (cudaFuncSetAttribute failed)";
  }
  // 16-byte loads need whole 8-half chunks per head and 16-byte aligned rows.
  const bool vector = head_dim % 8 == 0 && reinterpret_cast<uintptr_t>(query) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(key) % 16 == 0;
  const dim3 grid(static_cast<unsigned>(batch * heads), static_cast<unsigned>((length + kTile - 1) / kTile));
  RowLseWmma<D><<<grid, kThreads, shared_bytes, stream>>>(query, key, mask, lse2, length, static_cast<int>(heads),
                                                          static_cast<int>(head_dim), scale2, vector);
  ColumnSumWmma<D><<<grid, kThreads, shared_bytes, stream>>>(query, key, mask, lse2, column, length,
                                                             static_cast<int>(heads), static_cast<int>(head_dim),
                                                             scale2, vector);
  return nullptr;
}

}  // namespace

const char* LaunchRowColumnWmma(const void* query, const void* key, const int64_t* mask, int64_t batch,
                                int64_t length, int64_t heads, int64_t head_dim, float scale2, float* lse2,
                                float* column, void* stream) {
  const __half* q = static_cast<const __half*>(query);
  const __half* k = static_cast<const __half*>(key);
  auto s = static_cast<cudaStream_t>(stream);
  if (head_dim <= 32) return Launch<32>(q, k, mask, batch, length, heads, head_dim, scale2, lse2, column, s);
  if (head_dim <= 64) return Launch<64>(q, k, mask, batch, length, heads, head_dim, scale2, lse2, column, s);
  if (head_dim <= kWmmaMaxHeadDim) {
    return Launch<128>(q, k, mask, batch, length, heads, head_dim, scale2, lse2, column, s);
  }
  return "AccScore: the tensor-core kernels support head sizes up to 128 (query width / num_heads)";
}

}  // namespace acc_ops
