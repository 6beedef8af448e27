// ai.acc::AccScore — shared by the CPU and CUDA kernels: the op's declaration for ONNX Runtime, its attributes and
// the input checks. The maths lives in acc_score_cpu.cpp and acc_score.cu; the contract in exporter/acc_score.py.
#pragma once

#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT

#include <cstdint>
#include <string>

namespace acc_ops {

inline constexpr const char* kDomain = "ai.acc";
inline constexpr const char* kOpName = "AccScore";

// The checked shapes of one call: query/key [B, N, H*dh], mask [B, N].
struct AccScoreShape {
  int64_t batch = 0;
  int64_t length = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;
  ONNXTensorElementDataType dtype = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
};

// Attributes read once when ORT creates the kernel.
struct AccScoreAttributes {
  int64_t num_heads = 0;
  float scale = 1.0f;
};

// Reads num_heads and scale; an error status names the missing or bad attribute.
OrtStatus* ReadAttributes(const OrtApi& api, const OrtKernelInfo* info, AccScoreAttributes& out);

// Checks query/key/mask against the contract; an error status names the input and what it should be.
OrtStatus* CheckInputs(const OrtApi& api, Ort::KernelContext& context, const AccScoreAttributes& attributes,
                       AccScoreShape& out);

// Runs `body`, turning any exception (Ort::Exception, std::bad_alloc, ...) into an ORT status naming the op.
template <typename F>
OrtStatus* Guard(const OrtApi& api, F&& body, const char* op = kOpName) noexcept {
  try {
    return body();
  } catch (const Ort::Exception& exc) {
    return api.CreateStatus(exc.GetOrtErrorCode(), (std::string(op) + ": " + exc.what()).c_str());
  } catch (const std::exception& exc) {
    return api.CreateStatus(ORT_FAIL, (std::string(op) + ": " + exc.what()).c_str());
  }
}

// The CPU kernel (acc_score_cpu.cpp).
struct AccScoreCpuKernel {
  AccScoreCpuKernel(const OrtApi& api, AccScoreAttributes attributes) : api_(api), attributes_(attributes) {}
  OrtStatus* ComputeV2(OrtKernelContext* context);

 private:
  const OrtApi& api_;
  AccScoreAttributes attributes_;
};

// Declaration of the op for ONNX Runtime; `Kernel` selects the device, `provider` the execution provider that runs it.
template <typename Kernel>
struct AccScoreOp : Ort::CustomOpBase<AccScoreOp<Kernel>, Kernel, /*WithStatus=*/true> {
  explicit AccScoreOp(const char* provider) : provider_(provider) {}

  OrtStatus* CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    return Guard(api, [&]() -> OrtStatus* {
      AccScoreAttributes attributes;
      if (OrtStatus* status = ReadAttributes(api, info, attributes)) return status;
      *kernel = new Kernel(api, attributes);
      return nullptr;
    });
  }
  const char* GetName() const { return kOpName; }
  const char* GetExecutionProviderType() const { return provider_; }
  size_t GetInputTypeCount() const { return 3; }
  // query and key: float or float16, checked at run time (one registration serves both).
  ONNXTensorElementDataType GetInputType(size_t index) const {
    return index == 2 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 : ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  }
  size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(size_t) const { return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }

 private:
  const char* provider_;
};

}  // namespace acc_ops
