// ai.acc::TokenSelect — the op's declaration for ONNX Runtime and its input checks, shared by the CPU kernel
// (token_select_cpu.cpp; when it is registered: register.cpp) and the CUDA kernel (token_select_cuda_op.cpp). The contract is exporter/token_select.py; the integer logic token_select_logic.h.
#pragma once

#include <cstdint>
#include <vector>

#include "acc_score_op.h"

namespace acc_ops {

inline constexpr const char* kTokenSelectName = "TokenSelect";
inline constexpr size_t kTokenSelectInputs = 8;  // hidden, mask, positions, score, n_valid, ratio, min_keep, padded_len

// The checked shapes of one call: hidden [B, N, D], the rest [B, N] / [B] / one element.
struct TokenSelectShape {
  int64_t batch = 0;
  int64_t length = 0;
  int64_t width = 0;
  ONNXTensorElementDataType dtype = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
};

// Checks the eight inputs against the contract; an error status names the input and what it should be.
OrtStatus* CheckTokenSelectInputs(const OrtApi& api, Ort::KernelContext& context, TokenSelectShape& out);

// K = StaticWidth(...) from the host scalars, or an error status when the body's TopK would fail too (K < 0).
OrtStatus* SlotCount(const OrtApi& api, float ratio, int64_t padded_len, int64_t min_keep, int64_t length,
                     int64_t& k_max);

// The CPU kernel (token_select_cpu.cpp): the same logic as the CUDA kernels, run sequentially.
struct TokenSelectCpuKernel {
  explicit TokenSelectCpuKernel(const OrtApi& api);
  OrtStatus* ComputeV2(OrtKernelContext* context);

 private:
  const OrtApi& api_;
  bool count_ranks_ = false;  // rank by counting as the GPU does (ACC_ORT_OPS_CPU_TOKENSELECT=count), else sort
};

// Declaration of the op for ONNX Runtime. On a GPU provider, ratio, min_keep and padded_len are CPU inputs (scalars
// read by the host; padded_len comes from a Shape node, so no device data is read); the rest stays on the device.
template <typename Kernel>
struct TokenSelectOp : Ort::CustomOpBase<TokenSelectOp<Kernel>, Kernel, /*WithStatus=*/true> {
  explicit TokenSelectOp(const char* provider) : provider_(provider) {}

  OrtStatus* CreateKernelV2(const OrtApi& api, const OrtKernelInfo*, void** kernel) const {
    return Guard(api, [&]() -> OrtStatus* {
      *kernel = new Kernel(api);
      return nullptr;
    }, kTokenSelectName);
  }
  const char* GetName() const { return kTokenSelectName; }
  const char* GetExecutionProviderType() const { return provider_; }
  size_t GetInputTypeCount() const { return kTokenSelectInputs; }
  // hidden: float or float16, checked at run time; score and ratio float; the rest int64.
  ONNXTensorElementDataType GetInputType(size_t index) const {
    if (index == 0) return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    return index == 3 || index == 5 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT : ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
  }
  OrtMemType GetInputMemoryType(size_t index) const {
    return provider_ != nullptr && index >= 5 ? OrtMemTypeCPUInput : OrtMemTypeDefault;
  }
  size_t GetOutputTypeCount() const { return 3; }
  ONNXTensorElementDataType GetOutputType(size_t index) const {
    return index == 0 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED : ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
  }

 private:
  const char* provider_;
};

}  // namespace acc_ops
