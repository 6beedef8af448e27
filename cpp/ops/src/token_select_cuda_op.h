// The CUDA EP's TokenSelect kernel (token_select_cuda_op.cpp), registered only in builds with ACC_OPS_CUDA=ON.
#pragma once

#include "token_select_op.h"

namespace acc_ops {

struct TokenSelectCudaKernel {
  explicit TokenSelectCudaKernel(const OrtApi& api) : api_(api) {}
  OrtStatus* ComputeV2(OrtKernelContext* context);

 private:
  const OrtApi& api_;
};

}  // namespace acc_ops
