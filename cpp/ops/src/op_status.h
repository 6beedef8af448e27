// Helpers every op's input checks share: a shape as text and the one-line INVALID_ARGUMENT status naming the op.
#pragma once

#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace acc_ops {

inline std::string ShapeText(const std::vector<int64_t>& shape) {
  std::ostringstream text;
  text << "[";
  for (size_t i = 0; i < shape.size(); ++i) text << (i ? ", " : "") << shape[i];
  text << "]";
  return text.str();
}

inline OrtStatus* InvalidArgument(const OrtApi& api, const char* op, const std::string& message) {
  return api.CreateStatus(ORT_INVALID_ARGUMENT, (std::string(op) + ": " + message).c_str());
}

}  // namespace acc_ops
