// The CUDA EP's AccScore kernel (acc_score_cuda_op.cpp), registered only in builds with ACC_OPS_CUDA=ON.
#pragma once

#include "acc_score_op.h"

namespace acc_ops {

struct AccScoreCudaKernel {
  AccScoreCudaKernel(const OrtApi& api, AccScoreAttributes attributes) : api_(api), attributes_(attributes) {}
  OrtStatus* ComputeV2(OrtKernelContext* context);

 private:
  const OrtApi& api_;
  AccScoreAttributes attributes_;
};

}  // namespace acc_ops
