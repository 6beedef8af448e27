// The integer logic of ai.acc::TokenSelect shared by the CPU kernel and the CUDA kernels (token_select.cu), so the
// CPU tests exercise exactly what the GPU runs: keep counts (float32 like the ONNX body), the score order and the
// slot rule. Plain C++ (host/device when compiled by nvcc), no ORT and no CUDA headers.
//
// Semantics (exporter/_token_select_script.py, modeling/select.py):
//   k_b   = min(max(int64(ceil_f32(ratio · f32(n_valid_b))), min_keep), Σ_j mask[b,j])
//   K     = min(max(int64(ceil_f32(ratio · f32(padded_len))), min_keep), N)   (static: from shapes only, ≥ every k_b)
//   rank  = position of j in TopK(score[b], largest, ties → lower index)
//   kept  = rank < k_b;  filler = k_b <= rank < K
//   slots = kept positions in original order, then filler positions in original order; mask_out[b,s] = s < kept.
#pragma once

#include <math.h>
#include <cstdint>
#include <cstring>
#include <climits>

#if defined(__CUDACC__)
#define ACC_HD __host__ __device__ __forceinline__
#else
#define ACC_HD inline
#endif

namespace acc_ops {

// float → int64 as ONNX Runtime's CPU Cast does on x86-64 (cvttss2si): truncation, INT64_MIN when out of range or
// NaN. Only absurd ratios reach that branch; scores of real models never do.
ACC_HD int64_t CastFloatToInt64(float value) {
  if (!(value >= -9.223372036854775808e18f && value < 9.223372036854775808e18f)) return INT64_MIN;
  return static_cast<int64_t>(value);
}

// The body's keep count of one sample; the product is one float32 multiply (no contraction possible: no add), the
// int64 → float conversion rounds to nearest on the host and on the GPU alike.
ACC_HD int64_t KeepCount(float ratio, int64_t n_valid, int64_t min_keep, int64_t n_current) {
  const float product = ratio * static_cast<float>(n_valid);
  const int64_t raw = CastFloatToInt64(ceilf(product));
  const int64_t clamped = raw > min_keep ? raw : min_keep;
  return clamped < n_current ? clamped : n_current;
}

// The output width K: a full-length sample's keep count, so it depends on the padded length alone (no device data,
// no host sync) and bounds every k_b. Samples keep min(k_b, K), as the body's `rank < k` over K slots does.
ACC_HD int64_t StaticWidth(float ratio, int64_t padded_len, int64_t min_keep, int64_t length) {
  return KeepCount(ratio, padded_len, min_keep, length);
}

// Bits of a score as an unsigned key whose order is the float order (−inf lowest, +inf highest, −0 == +0). NaN has
// no order in the body's TopK; here +NaN sorts above +inf and −NaN below −inf, which keeps ranks a permutation.
ACC_HD uint32_t OrderKey(float value) {
  if (value == 0.0f) value = 0.0f;  // −0 → +0: equal scores must tie
#if defined(__CUDA_ARCH__)
  const uint32_t bits = __float_as_uint(value);
#else
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
#endif
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// Whether position i precedes position j in TopK(largest=1): higher score first, equal scores by lower index.
ACC_HD bool Precedes(uint32_t key_i, int64_t i, uint32_t key_j, int64_t j) {
  return key_i > key_j || (key_i == key_j && i < j);
}

// Rank of position j among n keys: how many positions precede it (0 = best). O(n) per position; on the GPU `keys`
// is in shared memory and every thread reads the same key at a time (a broadcast).
ACC_HD int64_t RankOf(const uint32_t* keys, int64_t n, int64_t j) {
  const uint32_t key_j = keys[j];
  int64_t rank = 0;
  for (int64_t i = 0; i < n; ++i) rank += Precedes(keys[i], i, key_j, j) ? 1 : 0;
  return rank;
}

// Slot classes of a ranked position: 0 kept, 1 filler, 2 dropped.
ACC_HD int SlotClass(int64_t rank, int64_t k, int64_t k_max) { return rank < k ? 0 : (rank < k_max ? 1 : 2); }

// Kept slots of a sample: the number of ranks below k (ranks are a permutation of 0..N-1).
ACC_HD int64_t KeptSlots(int64_t k, int64_t length) { return k < 0 ? 0 : (k < length ? k : length); }

}  // namespace acc_ops
