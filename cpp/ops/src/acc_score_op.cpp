// Attribute reading and input checks of ai.acc::AccScore (see acc_score_op.h).
#include "acc_score_op.h"

#include "op_status.h"

#include <vector>

namespace acc_ops {
namespace {

OrtStatus* Invalid(const OrtApi& api, const std::string& message) { return InvalidArgument(api, kOpName, message); }

}  // namespace

OrtStatus* ReadAttributes(const OrtApi& api, const OrtKernelInfo* info, AccScoreAttributes& out) {
  if (OrtStatus* status = api.KernelInfoGetAttribute_int64(info, "num_heads", &out.num_heads)) {
    api.ReleaseStatus(status);
    return Invalid(api, "attribute num_heads (int) is missing; export with traceable_acc_score");
  }
  if (OrtStatus* status = api.KernelInfoGetAttribute_float(info, "scale", &out.scale)) {
    api.ReleaseStatus(status);
    return Invalid(api, "attribute scale (float) is missing; export with traceable_acc_score");
  }
  if (out.num_heads < 1) return Invalid(api, "attribute num_heads must be >= 1, got " + std::to_string(out.num_heads));
  return nullptr;
}

OrtStatus* CheckInputs(const OrtApi& api, Ort::KernelContext& context, const AccScoreAttributes& attributes,
                       AccScoreShape& out) {
  Ort::ConstValue query = context.GetInput(0);
  Ort::ConstValue key = context.GetInput(1);
  Ort::ConstValue mask = context.GetInput(2);
  auto query_info = query.GetTensorTypeAndShapeInfo();
  auto key_info = key.GetTensorTypeAndShapeInfo();
  std::vector<int64_t> q = query_info.GetShape();
  std::vector<int64_t> k = key_info.GetShape();
  std::vector<int64_t> m = mask.GetTensorTypeAndShapeInfo().GetShape();
  out.dtype = query_info.GetElementType();
  if (out.dtype != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && out.dtype != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
    return Invalid(api, "query must be float or float16, got element type " + std::to_string(out.dtype));
  }
  if (key_info.GetElementType() != out.dtype) return Invalid(api, "key must have the element type of query");
  if (q.size() != 3) return Invalid(api, "query must be [B, N, H*dh], got " + ShapeText(q));
  if (k != q) return Invalid(api, "key " + ShapeText(k) + " must have the shape of query " + ShapeText(q));
  if (m.size() != 2 || m[0] != q[0] || m[1] != q[1]) {
    return Invalid(api, "mask " + ShapeText(m) + " must be [B, N] of query " + ShapeText(q));
  }
  if (q[2] % attributes.num_heads != 0) {
    return Invalid(api, "query width " + std::to_string(q[2]) + " is not a multiple of num_heads=" +
                            std::to_string(attributes.num_heads));
  }
  out.batch = q[0];
  out.length = q[1];
  out.heads = attributes.num_heads;
  out.head_dim = q[2] / attributes.num_heads;
  return nullptr;
}

}  // namespace acc_ops
