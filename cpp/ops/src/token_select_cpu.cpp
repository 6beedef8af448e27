// CPU kernel of ai.acc::TokenSelect: the CUDA kernels' logic (token_select_logic.h) run sequentially, so the CPU
// tests check what the GPU runs against the function body. Ranks come from one sort per sample under the same total
// order (Precedes) the GPU counts with; ACC_ORT_OPS_CPU_TOKENSELECT=count (read when ORT creates the kernel) counts
// like the GPU instead, O(N²), for the tests. Registered in CUDA builds, and with the variable set in CPU builds
// (register.cpp).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

#include "token_select_logic.h"
#include "token_select_op.h"

namespace acc_ops {

TokenSelectCpuKernel::TokenSelectCpuKernel(const OrtApi& api) : api_(api) {
  const char* value = std::getenv("ACC_ORT_OPS_CPU_TOKENSELECT");
  count_ranks_ = value != nullptr && std::strcmp(value, "count") == 0;
}

OrtStatus* TokenSelectCpuKernel::ComputeV2(OrtKernelContext* raw_context) {
  return Guard(api_, [&]() -> OrtStatus* {
    Ort::KernelContext context(raw_context);
    TokenSelectShape shape;
    if (OrtStatus* status = CheckTokenSelectInputs(api_, context, shape)) return status;
    const int64_t batch = shape.batch, length = shape.length, width = shape.width;
    const int64_t* mask = context.GetInput(1).GetTensorData<int64_t>();
    const int64_t* positions = context.GetInput(2).GetTensorData<int64_t>();
    const float* score = context.GetInput(3).GetTensorData<float>();
    const int64_t* n_valid = context.GetInput(4).GetTensorData<int64_t>();
    const float ratio = *context.GetInput(5).GetTensorData<float>();
    const int64_t min_keep = *context.GetInput(6).GetTensorData<int64_t>();
    const int64_t padded_len = *context.GetInput(7).GetTensorData<int64_t>();
    int64_t k_max = 0;
    if (OrtStatus* status = SlotCount(api_, ratio, padded_len, min_keep, length, k_max)) return status;

    std::vector<int64_t> keep(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) {
      int64_t n_current = 0;
      for (int64_t j = 0; j < length; ++j) n_current += mask[b * length + j];
      const int64_t k = KeepCount(ratio, n_valid[b], min_keep, n_current);
      keep[b] = k < k_max ? k : k_max;
    }

    const size_t element = shape.dtype == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ? 2 : 4;
    const auto* hidden = static_cast<const char*>(context.GetInput(0).GetTensorRawData());
    auto* hidden_out = static_cast<char*>(context.GetOutput(0, {batch, k_max, width}).GetTensorMutableRawData());
    int64_t* mask_out = context.GetOutput(1, {batch, k_max}).GetTensorMutableData<int64_t>();
    int64_t* positions_out = context.GetOutput(2, {batch, k_max}).GetTensorMutableData<int64_t>();
    if (k_max == 0) return nullptr;

    std::vector<uint32_t> keys(static_cast<size_t>(length));
    std::vector<int64_t> order(static_cast<size_t>(length)), rank(static_cast<size_t>(length));
    std::vector<int64_t> index(static_cast<size_t>(k_max));
    const size_t row_bytes = static_cast<size_t>(width) * element;
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t j = 0; j < length; ++j) keys[j] = OrderKey(score[b * length + j]);
      if (count_ranks_) {
        for (int64_t j = 0; j < length; ++j) rank[j] = RankOf(keys.data(), length, j);
      } else {
        std::iota(order.begin(), order.end(), int64_t{0});
        std::sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return Precedes(keys[i], i, keys[j], j); });
        for (int64_t r = 0; r < length; ++r) rank[order[r]] = r;
      }
      const int64_t kept = KeptSlots(keep[b], length);
      int64_t kept_seen = 0, filler_seen = 0;
      for (int64_t j = 0; j < length; ++j) {
        const int slot_class = SlotClass(rank[j], keep[b], k_max);
        if (slot_class == 0) index[kept_seen++] = j;
        if (slot_class == 1) index[kept + filler_seen++] = j;
      }
      for (int64_t s = 0; s < k_max; ++s) {
        const int64_t out = b * k_max + s, source = b * length + index[s];
        mask_out[out] = s < kept ? 1 : 0;
        positions_out[out] = positions[source];
        std::memcpy(hidden_out + out * row_bytes, hidden + source * row_bytes, row_bytes);
      }
    }
    return nullptr;
  }, kTokenSelectName);
}

}  // namespace acc_ops
