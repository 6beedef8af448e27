// CPU kernel of ai.acc::AccScore: per (batch, head), the valid keys' column sums of the attention probabilities,
// computed one strip of query rows at a time (TI × N logits), so nothing N × N is ever stored.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "acc_score_op.h"

namespace acc_ops {
namespace {

constexpr int64_t kRowTile = 16;  // query rows per strip: 16 × N floats stay in L1/L2 for BERT lengths

// Built twice on x86-64 (AVX2+FMA and baseline), chosen at load time: the loops below then vectorise 8-wide.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ACC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ACC_CLONES
#endif

// exp(x) for x <= 0 (softmax after subtracting the row max), Cephes' polynomial: ~1 ulp like expf, but plain float
// arithmetic the compiler vectorises (libm's expf is a call per element).
inline float ExpNonPositive(float x) {
  x = std::max(x, -87.0f);
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest, no floorf needed
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof(two_n));
  return p * two_n;
}

// 8 floats in a GCC/Clang vector: one AVX register in the x86-64-v3 clone, two SSE registers in the baseline one.
typedef float Vec8 __attribute__((vector_size(32)));

inline Vec8 LoadVec8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Rows [0, rows) of q ([rows][dh], zero-padded to a multiple of 4 rows) against all valid keys (transposed,
// [dh][stride], zero-padded to stride = nv rounded up to 16): the strip of logits ([rows][stride]), each row's
// softmax over the nv real keys, and its probabilities added to column[nv]. Logits are accumulated over d in a
// 4 × 16 register block, so the loop is bound by FMAs rather than by loads and stores of the strip.
ACC_CLONES void StripColumns(const float* q, const float* keys, int64_t nv, int64_t stride, int64_t dh, int64_t rows,
                             float scale, float* strip, float* column) {
  for (int64_t r0 = 0; r0 < rows; r0 += 4) {
    for (int64_t j0 = 0; j0 < stride; j0 += 16) {
      Vec8 acc[4][2] = {};
      for (int64_t d = 0; d < dh; ++d) {
        const Vec8 k0 = LoadVec8(keys + d * stride + j0), k1 = LoadVec8(keys + d * stride + j0 + 8);
        for (int r = 0; r < 4; ++r) {
          const float a = q[(r0 + r) * dh + d];
          acc[r][0] += a * k0;
          acc[r][1] += a * k1;
        }
      }
      for (int r = 0; r < 4; ++r) {
        std::memcpy(strip + (r0 + r) * stride + j0, &acc[r][0], sizeof(Vec8));
        std::memcpy(strip + (r0 + r) * stride + j0 + 8, &acc[r][1], sizeof(Vec8));
      }
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* s = strip + r * stride;
    // Max and sum over 8 independent lanes: the loops vectorise without -ffast-math (no reassociation needed).
    float lane_max[8], lane_sum[8];
    for (int l = 0; l < 8; ++l) lane_max[l] = -std::numeric_limits<float>::infinity(), lane_sum[l] = 0.0f;
    int64_t j = 0;
    for (; j + 8 <= nv; j += 8) {
      for (int l = 0; l < 8; ++l) lane_max[l] = std::max(lane_max[l], s[j + l]);
    }
    float row_max = lane_max[0];
    for (int l = 1; l < 8; ++l) row_max = std::max(row_max, lane_max[l]);
    for (; j < nv; ++j) row_max = std::max(row_max, s[j]);
    row_max *= scale;  // scale > 0 in every model (1/sqrt(dh)); a negative scale is handled below
    if (!(scale > 0.0f)) {
      row_max = -std::numeric_limits<float>::infinity();
      for (j = 0; j < nv; ++j) row_max = std::max(row_max, s[j] * scale);
    }
    for (j = 0; j < nv; ++j) s[j] = ExpNonPositive(s[j] * scale - row_max);
    for (j = 0; j + 8 <= nv; j += 8) {
      for (int l = 0; l < 8; ++l) lane_sum[l] += s[j + l];
    }
    float row_sum = 0.0f;
    for (int l = 0; l < 8; ++l) row_sum += lane_sum[l];
    for (; j < nv; ++j) row_sum += s[j];
    const float inverse = 1.0f / row_sum;
    for (int64_t j = 0; j < nv; ++j) column[j] += s[j] * inverse;
  }
}

inline float ToFloat(float value) { return value; }
inline float ToFloat(Ort::Float16_t value) { return value.ToFloat(); }

// Everything one ParallelFor task needs; task t handles batch t / H, head t % H.
template <typename T>
struct Job {
  const T* query;
  const T* key;
  const int64_t* mask;
  float* partial;  // [B, H, N]: Σ_{i valid} P[b, h, i, j]
  AccScoreShape shape;
  float scale;
};

template <typename T>
void RunHead(void* data, size_t task) {
  const auto& job = *static_cast<const Job<T>*>(data);
  const int64_t n = job.shape.length, heads = job.shape.heads, dh = job.shape.head_dim;
  const int64_t b = static_cast<int64_t>(task) / heads, h = static_cast<int64_t>(task) % heads;
  const int64_t row_stride = heads * dh;
  const int64_t* mask = job.mask + b * n;
  float* out = job.partial + (b * heads + h) * n;
  std::fill(out, out + n, 0.0f);

  std::vector<int64_t> valid;  // padded word-vectors take no part: not as keys (softmax) nor as queries (sum)
  for (int64_t i = 0; i < n; ++i) {
    if (mask[i] != 0) valid.push_back(i);
  }
  const int64_t nv = static_cast<int64_t>(valid.size());
  if (nv == 0) return;
  // Valid keys transposed ([dh][nv]) so the strip's inner loop runs over keys and vectorises without reassociation.
  // Zero padding: keys to a multiple of 16 columns, queries to whole row tiles (padded logits are never read).
  const int64_t stride = (nv + 15) / 16 * 16, padded_rows = (nv + kRowTile - 1) / kRowTile * kRowTile;
  std::vector<float> keys(dh * stride, 0.0f), queries(padded_rows * dh, 0.0f), column(nv, 0.0f),
      strip(kRowTile * stride);
  for (int64_t j = 0; j < nv; ++j) {
    const T* k = job.key + (b * n + valid[j]) * row_stride + h * dh;
    const T* q = job.query + (b * n + valid[j]) * row_stride + h * dh;
    for (int64_t d = 0; d < dh; ++d) {
      keys[d * stride + j] = ToFloat(k[d]);
      queries[j * dh + d] = ToFloat(q[d]);
    }
  }
  for (int64_t i0 = 0; i0 < nv; i0 += kRowTile) {
    StripColumns(queries.data() + i0 * dh, keys.data(), nv, stride, dh, std::min(kRowTile, nv - i0), job.scale,
                 strip.data(), column.data());
  }
  for (int64_t j = 0; j < nv; ++j) out[valid[j]] = column[j];
}

// score[b, j] = Σ_h partial / (H · max(n_valid, 1)); −inf on padding, +inf at position 0 ([CLS]).
void Finish(const float* partial, const int64_t* mask, const AccScoreShape& shape, float* score) {
  const int64_t n = shape.length, heads = shape.heads;
  for (int64_t b = 0; b < shape.batch; ++b) {
    int64_t n_valid = 0;
    for (int64_t j = 0; j < n; ++j) n_valid += mask[b * n + j] != 0;
    const float denominator = static_cast<float>(std::max<int64_t>(n_valid, 1)) * static_cast<float>(heads);
    for (int64_t j = 0; j < n; ++j) {
      float total = 0.0f;
      for (int64_t h = 0; h < heads; ++h) total += partial[(b * heads + h) * n + j];
      float value = mask[b * n + j] != 0 ? total / denominator : -std::numeric_limits<float>::infinity();
      score[b * n + j] = j == 0 ? std::numeric_limits<float>::infinity() : value;
    }
  }
}

template <typename T>
void Run(Ort::KernelContext& context, const AccScoreShape& shape, float scale, float* score) {
  std::vector<float> partial(static_cast<size_t>(shape.batch * shape.heads * shape.length));
  Job<T> job{context.GetInput(0).GetTensorData<T>(), context.GetInput(1).GetTensorData<T>(),
             context.GetInput(2).GetTensorData<int64_t>(), partial.data(), shape, scale};
  const size_t tasks = static_cast<size_t>(shape.batch * shape.heads);
  // ORT's intra-op thread pool (session option intra_op_num_threads); one task per (batch, head).
  context.ParallelFor(&RunHead<T>, tasks, 0, &job);
  Finish(partial.data(), job.mask, shape, score);
}

}  // namespace

OrtStatus* AccScoreCpuKernel::ComputeV2(OrtKernelContext* raw_context) {
  return Guard(api_, [&]() -> OrtStatus* {
    Ort::KernelContext context(raw_context);
    AccScoreShape shape;
    if (OrtStatus* status = CheckInputs(api_, context, attributes_, shape)) return status;
    const std::vector<int64_t> dims{shape.batch, shape.length};
    float* score = context.GetOutput(0, dims).GetTensorMutableData<float>();
    if (shape.batch == 0 || shape.length == 0) return nullptr;
    if (shape.dtype == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
      Run<Ort::Float16_t>(context, shape, attributes_.scale, score);
    } else {
      Run<float>(context, shape, attributes_.scale, score);
    }
    return nullptr;
  });
}

}  // namespace acc_ops
