// Entry point of libacc_ort_ops: ONNX Runtime calls RegisterCustomOps when a session registers the library
// (SessionOptions.register_custom_ops_library / RegisterCustomOpsLibrary). It adds the domain "ai.acc" with AccScore
// for the CPU EP and, in CUDA builds, AccScore and TokenSelect for the CUDA EP.
// TokenSelect on the CPU EP: once the library declares an op, ONNX Runtime no longer inlines the model's function
// body for it on an EP without a kernel ("Failed to find kernel"), so CUDA builds also register the CPU kernel (CPU
// sessions and CPU-placed nodes). CPU-only builds register it only with ACC_ORT_OPS_CPU_TOKENSELECT set (tests):
// without it TokenSelect stays the inlined body there.
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "acc_score_op.h"
#include "token_select_op.h"
#ifdef ACC_OPS_CUDA
#include "acc_score_cuda_op.h"
#include "token_select_cuda_op.h"
#endif

namespace {

// Every session may register the library; the op declarations are stateless and live as long as the process.
const acc_ops::AccScoreOp<acc_ops::AccScoreCpuKernel> kCpuOp{nullptr};  // nullptr: the CPU EP
const acc_ops::TokenSelectOp<acc_ops::TokenSelectCpuKernel> kCpuSelectOp{nullptr};
#ifdef ACC_OPS_CUDA
const acc_ops::AccScoreOp<acc_ops::AccScoreCudaKernel> kCudaOp{"CUDAExecutionProvider"};
const acc_ops::TokenSelectOp<acc_ops::TokenSelectCudaKernel> kCudaSelectOp{"CUDAExecutionProvider"};
#endif

bool CpuTokenSelectWanted() {
#ifdef ACC_OPS_CUDA
  return true;
#else
  const char* value = std::getenv("ACC_ORT_OPS_CPU_TOKENSELECT");
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
#endif
}

}  // namespace

extern "C" __attribute__((visibility("default"))) OrtStatus* ORT_API_CALL
RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  const OrtApi* api = api_base->GetApi(ORT_API_VERSION);
  if (api == nullptr) {  // ONNX Runtime older than the headers: only version 1 of the API is sure to exist
    return api_base->GetApi(1)->CreateStatus(
        ORT_FAIL, "acc_ort_ops was built against newer ONNX Runtime headers than this runtime; upgrade onnxruntime");
  }
  static std::once_flag init;
  std::call_once(init, [api]() { Ort::InitApi(api); });
  OrtCustomOpDomain* domain = nullptr;
  if (OrtStatus* status = api->CreateCustomOpDomain(acc_ops::kDomain, &domain)) return status;
  OrtStatus* status = api->CustomOpDomain_Add(domain, &kCpuOp);
  if (status == nullptr && CpuTokenSelectWanted()) status = api->CustomOpDomain_Add(domain, &kCpuSelectOp);
#ifdef ACC_OPS_CUDA
  if (status == nullptr) status = api->CustomOpDomain_Add(domain, &kCudaOp);
  if (status == nullptr) status = api->CustomOpDomain_Add(domain, &kCudaSelectOp);
#endif
  if (status == nullptr) status = api->AddCustomOpDomain(options, domain);
  // The domain must outlive every session created with `options`: it is released when the process ends.
  if (status != nullptr) api->ReleaseCustomOpDomain(domain);
  return status;
}
