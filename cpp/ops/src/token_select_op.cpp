// Input checks and the batch keep count of ai.acc::TokenSelect (see token_select_op.h).
#include "token_select_op.h"

#include "op_status.h"
#include "token_select_logic.h"

#include <string>

namespace acc_ops {
namespace {

OrtStatus* Invalid(const OrtApi& api, const std::string& message) { return InvalidArgument(api, kTokenSelectName, message); }

std::vector<int64_t> ShapeOf(Ort::KernelContext& context, size_t index) {
  return context.GetInput(index).GetTensorTypeAndShapeInfo().GetShape();
}

}  // namespace

OrtStatus* CheckTokenSelectInputs(const OrtApi& api, Ort::KernelContext& context, TokenSelectShape& out) {
  if (context.GetInputCount() != kTokenSelectInputs) {
    return Invalid(api, "expects 8 inputs (hidden, mask, positions, score, n_valid, ratio, min_keep, padded_len), got " +
                            std::to_string(context.GetInputCount()));
  }
  const std::vector<int64_t> hidden = ShapeOf(context, 0);
  out.dtype = context.GetInput(0).GetTensorTypeAndShapeInfo().GetElementType();
  if (out.dtype != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && out.dtype != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16) {
    return Invalid(api, "hidden must be float or float16, got element type " + std::to_string(out.dtype));
  }
  if (hidden.size() != 3) return Invalid(api, "hidden must be [B, N, D], got " + ShapeText(hidden));
  const std::vector<int64_t> rows{hidden[0], hidden[1]};
  const char* names[] = {"hidden", "mask", "positions", "score"};
  for (size_t index = 1; index <= 3; ++index) {
    const std::vector<int64_t> shape = ShapeOf(context, index);
    if (shape != rows) {
      return Invalid(api, std::string(names[index]) + " " + ShapeText(shape) + " must be [B, N] of hidden " +
                              ShapeText(hidden));
    }
  }
  const std::vector<int64_t> n_valid = ShapeOf(context, 4);
  if (n_valid != std::vector<int64_t>{hidden[0]}) {
    return Invalid(api, "n_valid " + ShapeText(n_valid) + " must be [B] of hidden " + ShapeText(hidden));
  }
  const char* scalars[] = {"ratio", "min_keep", "padded_len"};
  for (size_t index : {size_t{5}, size_t{6}, size_t{7}}) {
    if (context.GetInput(index).GetTensorTypeAndShapeInfo().GetElementCount() != 1) {
      return Invalid(api, std::string(scalars[index - 5]) + " must be a scalar, got " +
                              ShapeText(ShapeOf(context, index)));
    }
  }
  out.batch = hidden[0];
  out.length = hidden[1];
  out.width = hidden[2];
  return nullptr;
}

OrtStatus* SlotCount(const OrtApi& api, float ratio, int64_t padded_len, int64_t min_keep, int64_t length,
                     int64_t& k_max) {
  k_max = StaticWidth(ratio, padded_len, min_keep, length);
  if (k_max < 0) {
    return Invalid(api, "the output width is negative (K = " + std::to_string(k_max) +
                            "); ratio, padded_len and min_keep must give at least 0 word-vectors");
  }
  return nullptr;
}

}  // namespace acc_ops
