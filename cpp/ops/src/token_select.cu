// CUDA kernels of ai.acc::TokenSelect (the semantics and the integer logic are token_select_logic.h's).
//   1. Rank   grid (B, ⌈N/256⌉): all N score keys of sample b in shared memory; each thread ranks one position by
//             counting the positions that precede it (higher score, ties → lower index): TopK's order, O(N) each.
//             Block (b, 0) also sums mask[b] and writes k_b. → scratch: k [B] int64, rank [B, N] int32.
//   (host: copy k to the host, synchronise, K = max k_b, allocate the outputs)
//   2. Gather grid (B, G): every block classifies the N positions of sample b (kept: rank < k_b, filler: rank < K)
//             and turns a block-wide exclusive scan into slots (kept in original order, then fillers), then copies
//             its share of the K hidden rows (every G-th slot) with 16-byte vectors when rows and pointers allow;
//             blocks (b, 0) write mask and positions. The scan is repeated per block: N ≤ 8192 int32 reads.
#include <cuda_runtime.h>

#include <cstdint>

#include "token_select_cuda.h"
#include "token_select_logic.h"

namespace acc_ops {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kRowsPerBlock = 8;   // gather: at least this many slots per block...
constexpr int64_t kTargetBlocks = 528;  // ...and about 4 blocks per H100 SM in all

__global__ void __launch_bounds__(kThreads) Rank(const int64_t* mask, const float* score, const int64_t* n_valid,
                                                 float ratio, int64_t min_keep, int64_t length, int64_t* keep,
                                                 int32_t* rank) {
  extern __shared__ uint32_t keys[];  // [length]
  __shared__ long long partial[kWarps];
  const int64_t b = blockIdx.x;
  const float* s = score + b * length;
  for (int64_t j = threadIdx.x; j < length; j += kThreads) keys[j] = OrderKey(s[j]);
  if (blockIdx.y == 0) {  // uniform per block: the barriers below are safe
    long long count = 0;
    for (int64_t j = threadIdx.x; j < length; j += kThreads) count += mask[b * length + j];
    for (int offset = 16; offset > 0; offset >>= 1) count += __shfl_xor_sync(0xffffffffu, count, offset);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = count;
    __syncthreads();
    if (threadIdx.x == 0) {
      long long n_current = 0;
      for (int w = 0; w < kWarps; ++w) n_current += partial[w];
      keep[b] = KeepCount(ratio, n_valid[b], min_keep, n_current);
    }
  }
  __syncthreads();
  const int64_t j = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
  if (j < length) rank[b * length + j] = static_cast<int32_t>(RankOf(keys, length, j));
}

// Exclusive block-wide prefix sums of two counts per thread (blockDim.x = kThreads), in place.
__device__ __forceinline__ void ExclusiveScan2(int& a, int& c) {
  __shared__ int warp_a[kWarps], warp_c[kWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int inc_a = a, inc_c = c;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const int up_a = __shfl_up_sync(0xffffffffu, inc_a, offset);
    const int up_c = __shfl_up_sync(0xffffffffu, inc_c, offset);
    if (lane >= offset) {
      inc_a += up_a;
      inc_c += up_c;
    }
  }
  if (lane == 31) {
    warp_a[warp] = inc_a;
    warp_c[warp] = inc_c;
  }
  __syncthreads();
  int before_a = 0, before_c = 0;
  for (int w = 0; w < warp; ++w) {
    before_a += warp_a[w];
    before_c += warp_c[w];
  }
  a = before_a + inc_a - a;
  c = before_c + inc_c - c;
}

template <typename V>
__global__ void __launch_bounds__(kThreads) Gather(const V* hidden, const int64_t* positions, int64_t length,
                                                   int vectors, int64_t k_max, const int64_t* keep,
                                                   const int32_t* rank, V* hidden_out, int64_t* mask_out,
                                                   int64_t* positions_out) {
  extern __shared__ int32_t index[];  // [k_max]: source position of each slot
  const int64_t b = blockIdx.x;
  const int64_t k = keep[b] < k_max ? keep[b] : k_max;  // k_max bounds every k_b unless n_valid > padded_len
  const int64_t kept_total = KeptSlots(k, length);
  const int32_t* r = rank + b * length;
  const int64_t chunk = (length + kThreads - 1) / kThreads;  // each thread owns positions [j0, j1), in order
  const int64_t j0 = threadIdx.x * chunk;
  const int64_t j1 = j0 + chunk < length ? j0 + chunk : length;
  int kept = 0, filler = 0;
  for (int64_t j = j0; j < j1; ++j) {
    const int slot_class = SlotClass(r[j], k, k_max);
    kept += slot_class == 0;
    filler += slot_class == 1;
  }
  ExclusiveScan2(kept, filler);
  for (int64_t j = j0; j < j1; ++j) {
    const int slot_class = SlotClass(r[j], k, k_max);
    if (slot_class == 0) index[kept++] = static_cast<int32_t>(j);
    if (slot_class == 1) index[kept_total + filler++] = static_cast<int32_t>(j);
  }
  __syncthreads();
  if (blockIdx.y == 0) {
    for (int64_t s = threadIdx.x; s < k_max; s += kThreads) {
      mask_out[b * k_max + s] = s < kept_total ? 1 : 0;
      positions_out[b * k_max + s] = positions[b * length + index[s]];
    }
  }
  const int64_t groups = gridDim.y, group = blockIdx.y;
  const int64_t rows = group < k_max ? (k_max - group + groups - 1) / groups : 0;  // slots group, group + G, ...
  const unsigned count = static_cast<unsigned>(rows) * static_cast<unsigned>(vectors);
  for (unsigned idx = threadIdx.x; idx < count; idx += kThreads) {
    const unsigned row = idx / vectors, v = idx % vectors;
    const int64_t s = group + row * groups;
    hidden_out[(b * k_max + s) * vectors + v] = hidden[(b * length + index[s]) * vectors + v];
  }
}

template <typename V>
const char* LaunchGather(const void* hidden, const int64_t* positions, int64_t batch, int64_t length,
                         int64_t row_bytes, int64_t k_max, const int64_t* keep, const int32_t* rank, void* hidden_out,
                         int64_t* mask_out, int64_t* positions_out, cudaStream_t stream) {
  const int64_t vectors = row_bytes / static_cast<int64_t>(sizeof(V));
  if (vectors * k_max > 0x7fffffff) return "TokenSelect: K × hidden width is beyond the CUDA kernel's 32-bit indexing";
  int64_t groups = (k_max + kRowsPerBlock - 1) / kRowsPerBlock;
  const int64_t per_sample = (kTargetBlocks + batch - 1) / batch;
  groups = groups < per_sample ? groups : per_sample;
  groups = groups < 1 ? 1 : (groups > 65535 ? 65535 : groups);
  const dim3 grid(static_cast<unsigned>(batch), static_cast<unsigned>(groups));
  Gather<V><<<grid, kThreads, static_cast<size_t>(k_max) * sizeof(int32_t), stream>>>(
      static_cast<const V*>(hidden), positions, length, static_cast<int>(vectors), k_max, keep, rank,
      static_cast<V*>(hidden_out), mask_out, positions_out);
  return nullptr;
}

bool Aligned(const void* pointer, int64_t row_bytes, int64_t bytes) {
  return reinterpret_cast<uintptr_t>(pointer) % bytes == 0 && row_bytes % bytes == 0;
}

}  // namespace

size_t TokenSelectScratchBytes(int64_t batch, int64_t length) {
  return static_cast<size_t>(batch) * sizeof(int64_t) + static_cast<size_t>(batch * length) * sizeof(int32_t);
}

const char* LaunchTokenSelectRank(const int64_t* mask, const float* score, const int64_t* n_valid, float ratio,
                                  int64_t min_keep, int64_t batch, int64_t length, void* scratch, void* stream) {
  if (batch == 0) return nullptr;
  if (batch > 0x7fffffff) return "TokenSelect: the batch is beyond the CUDA grid limits";
  if (length > kTokenSelectMaxLength) return "TokenSelect: the CUDA kernel takes sequences up to 8192 word-vectors";
  auto* keep = static_cast<int64_t*>(scratch);
  auto* rank = reinterpret_cast<int32_t*>(keep + batch);
  const int64_t tiles = length > 0 ? (length + kThreads - 1) / kThreads : 1;
  const dim3 grid(static_cast<unsigned>(batch), static_cast<unsigned>(tiles));
  Rank<<<grid, kThreads, static_cast<size_t>(length) * sizeof(uint32_t), static_cast<cudaStream_t>(stream)>>>(
      mask, score, n_valid, ratio, min_keep, length, keep, rank);
  return cudaGetLastError() == cudaSuccess ? nullptr : "TokenSelect: the CUDA rank kernel failed to launch";
}

const char* LaunchTokenSelectGather(const void* hidden, const int64_t* positions, bool half, int64_t batch,
                                    int64_t length, int64_t width, int64_t k_max, const void* scratch,
                                    void* hidden_out, int64_t* mask_out, int64_t* positions_out, void* stream) {
  if (batch == 0 || k_max == 0) return nullptr;
  if (k_max > length || length > kTokenSelectMaxLength) return "TokenSelect: K must lie in [0, N] and N <= 8192";
  const auto* keep = static_cast<const int64_t*>(scratch);
  const auto* rank = reinterpret_cast<const int32_t*>(keep + batch);
  const int64_t row_bytes = width * (half ? 2 : 4);
  auto cuda_stream = static_cast<cudaStream_t>(stream);
  const char* error = nullptr;
  const auto both = [&](int64_t bytes) { return Aligned(hidden, row_bytes, bytes) && Aligned(hidden_out, row_bytes, bytes); };
  if (both(16)) {
    error = LaunchGather<uint4>(hidden, positions, batch, length, row_bytes, k_max, keep, rank, hidden_out, mask_out,
                                positions_out, cuda_stream);
  } else if (both(8)) {
    error = LaunchGather<uint2>(hidden, positions, batch, length, row_bytes, k_max, keep, rank, hidden_out, mask_out,
                                positions_out, cuda_stream);
  } else if (both(4)) {
    error = LaunchGather<uint32_t>(hidden, positions, batch, length, row_bytes, k_max, keep, rank, hidden_out,
                                   mask_out, positions_out, cuda_stream);
  } else {
    error = LaunchGather<uint16_t>(hidden, positions, batch, length, row_bytes, k_max, keep, rank, hidden_out,
                                   mask_out, positions_out, cuda_stream);
  }
  if (error != nullptr) return error;
  return cudaGetLastError() == cudaSuccess ? nullptr : "TokenSelect: the CUDA gather kernel failed to launch";
}

}  // namespace acc_ops
