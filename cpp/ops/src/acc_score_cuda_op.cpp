// The CUDA EP's AccScore kernel: checks inputs, takes scratch from ORT's allocator and enqueues the kernels of
// acc_score.cu on the EP's compute stream (no host synchronisation).
#include "acc_score_cuda_op.h"

#include "acc_score_cuda.h"

namespace acc_ops {

OrtStatus* AccScoreCudaKernel::ComputeV2(OrtKernelContext* raw_context) {
  return Guard(api_, [&]() -> OrtStatus* {
    Ort::KernelContext context(raw_context);
    AccScoreShape shape;
    if (OrtStatus* status = CheckInputs(api_, context, attributes_, shape)) return status;
    const std::vector<int64_t> dims{shape.batch, shape.length};
    float* score = context.GetOutput(0, dims).GetTensorMutableData<float>();
    if (shape.batch == 0 || shape.length == 0) return nullptr;
    Ort::ConstValue query = context.GetInput(0);
    const OrtMemoryInfo* memory = nullptr;
    if (OrtStatus* status = api_.GetTensorMemoryInfo(query, &memory)) return status;
    OrtAllocator* allocator = nullptr;
    if (OrtStatus* status = api_.KernelContext_GetAllocator(raw_context, memory, &allocator)) return status;
    // Stream-aware scratch from the EP's arena (as ORT's own CUDA kernels take theirs), handed back after the launch:
    // later users of the block run on the same stream, after our kernels.
    void* scratch = nullptr;
    const size_t bytes = AccScoreScratchBytes(shape.batch, shape.length, shape.heads);
    if (OrtStatus* status = api_.KernelContext_GetScratchBuffer(raw_context, memory, bytes, &scratch)) {
      api_.ReleaseAllocator(allocator);
      return status;
    }
    const char* error = LaunchAccScore(query.GetTensorRawData(), context.GetInput(1).GetTensorRawData(),
                                       context.GetInput(2).GetTensorData<int64_t>(),
                                       shape.dtype == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, shape.batch, shape.length,
                                       shape.heads, shape.head_dim, attributes_.scale, scratch, score,
                                       context.GetGPUComputeStream());
    allocator->Free(allocator, scratch);
    api_.ReleaseAllocator(allocator);
    return error == nullptr ? nullptr : api_.CreateStatus(ORT_EP_FAIL, error);
  });
}

}  // namespace acc_ops
