// The CUDA EP's TokenSelect kernel. K (the output length) follows from host scalars alone (ratio, min_keep and the
// padded length, a Shape output), so one call is two launches on the EP stream and no host sync: rank pass and keep
// counts → gather pass into the [B, K, ·] outputs. n_valid, mask, score, positions and hidden stay on the device.
#include "token_select_cuda_op.h"

#include <string>

#include "token_select_cuda.h"

namespace acc_ops {
namespace {

// Device scratch from the EP's allocator, freed (back to the stream-aware arena) when the call returns or throws.
struct Scratch {
  explicit Scratch(const OrtApi& api) : api(api) {}
  ~Scratch() {
    if (allocator != nullptr) {
      if (data != nullptr) allocator->Free(allocator, data);
      api.ReleaseAllocator(allocator);
    }
  }
  OrtStatus* Acquire(OrtKernelContext* context, const Ort::ConstValue& like, size_t bytes) {
    const OrtMemoryInfo* memory = nullptr;
    if (OrtStatus* status = api.GetTensorMemoryInfo(like, &memory)) return status;
    if (OrtStatus* status = api.KernelContext_GetAllocator(context, memory, &allocator)) return status;
    return api.KernelContext_GetScratchBuffer(context, memory, bytes, &data);
  }

  const OrtApi& api;
  OrtAllocator* allocator = nullptr;
  void* data = nullptr;
};

}  // namespace

OrtStatus* TokenSelectCudaKernel::ComputeV2(OrtKernelContext* raw_context) {
  return Guard(api_, [&]() -> OrtStatus* {
    Ort::KernelContext context(raw_context);
    TokenSelectShape shape;
    if (OrtStatus* status = CheckTokenSelectInputs(api_, context, shape)) return status;
    const int64_t batch = shape.batch, length = shape.length, width = shape.width;
    if (length > kTokenSelectMaxLength) {
      return api_.CreateStatus(ORT_INVALID_ARGUMENT, ("TokenSelect: the CUDA kernel takes sequences up to " +
                                                      std::to_string(kTokenSelectMaxLength) + " word-vectors, got N = " +
                                                      std::to_string(length)).c_str());
    }
    const float ratio = *context.GetInput(5).GetTensorData<float>();      // CPU input
    const int64_t min_keep = *context.GetInput(6).GetTensorData<int64_t>();  // CPU input
    const int64_t padded_len = *context.GetInput(7).GetTensorData<int64_t>();  // CPU input
    void* stream = context.GetGPUComputeStream();
    int64_t k_max = 0;
    if (OrtStatus* status = SlotCount(api_, ratio, padded_len, min_keep, length, k_max)) return status;

    Scratch scratch(api_);
    if (batch > 0) {
      // Stream-aware scratch from the EP's arena, handed back after the last launch (as AccScore does): later users
      // of the block run on the same stream, after our kernels.
      if (OrtStatus* status = scratch.Acquire(raw_context, context.GetInput(3), TokenSelectScratchBytes(batch, length))) {
        return status;
      }
      const char* error = LaunchTokenSelectRank(context.GetInput(1).GetTensorData<int64_t>(),
                                                context.GetInput(3).GetTensorData<float>(),
                                                context.GetInput(4).GetTensorData<int64_t>(), ratio, min_keep, batch,
                                                length, scratch.data, stream);
      if (error != nullptr) return api_.CreateStatus(ORT_EP_FAIL, error);
    }
    void* hidden_out = context.GetOutput(0, {batch, k_max, width}).GetTensorMutableRawData();
    int64_t* mask_out = context.GetOutput(1, {batch, k_max}).GetTensorMutableData<int64_t>();
    int64_t* positions_out = context.GetOutput(2, {batch, k_max}).GetTensorMutableData<int64_t>();
    if (batch == 0 || k_max == 0) return nullptr;
    const char* error = LaunchTokenSelectGather(context.GetInput(0).GetTensorRawData(),
                                                context.GetInput(2).GetTensorData<int64_t>(),
                                                shape.dtype == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, batch, length,
                                                width, k_max, scratch.data, hidden_out, mask_out, positions_out, stream);
    return error == nullptr ? nullptr : api_.CreateStatus(ORT_EP_FAIL, error);
  }, kTokenSelectName);
}

}  // namespace acc_ops
