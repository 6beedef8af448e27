#include "acc_score_plugin.h"

#include <cstdio>
#include <limits>
#include <new>
#include <sstream>

#include "acc_score_cuda.h"
#include "mask_widen.h"
#include "trt_log.h"

namespace acc_trt {
namespace {

using nvinfer1::DataType;
using nvinfer1::Dims;
using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;
using nvinfer1::TensorFormat;

constexpr int32_t kInputs = 3;  // query, key, mask
constexpr int32_t kOutputs = 1;
constexpr size_t kAlignment = 256;  // of the widened mask inside the workspace (TensorRT aligns the workspace itself)

std::string DimsText(const Dims& dims) {
  std::string text = "[";
  for (int32_t i = 0; i < dims.nbDims; ++i) text += (i ? ", " : "") + std::to_string(dims.d[i]);
  return text + "]";
}

bool IsProjection(DataType type) { return type == DataType::kFLOAT || type == DataType::kHALF; }
bool IsMask(DataType type) { return type == DataType::kINT64 || type == DataType::kINT32; }

// Empty when query, key and mask fit the contract; else what is wrong. Unknown extents (-1, build time) pass.
std::string CheckDims(const Dims& query, const Dims& key, const Dims& mask, int32_t heads) {
  if (query.nbDims != 3 || key.nbDims != 3) {
    return "query and key must be [B, N, num_heads*head_dim], got " + DimsText(query) + " and " + DimsText(key);
  }
  if (mask.nbDims != 2) return "mask must be [B, N], got " + DimsText(mask);
  for (int32_t i = 0; i < 3; ++i) {
    if (query.d[i] >= 0 && key.d[i] >= 0 && query.d[i] != key.d[i]) {
      return "key " + DimsText(key) + " must have the shape of query " + DimsText(query);
    }
  }
  for (int32_t i = 0; i < 2; ++i) {
    if (query.d[i] >= 0 && mask.d[i] >= 0 && query.d[i] != mask.d[i]) {
      return "mask " + DimsText(mask) + " must be [B, N] of query " + DimsText(query);
    }
  }
  const int64_t width = query.d[2];
  if (width >= 0 && (width == 0 || width % heads != 0)) {
    return "query width " + std::to_string(width) + " is not a positive multiple of num_heads=" + std::to_string(heads);
  }
  if (width > 0 && width / heads > kMaxHeadDim) {
    return "head size " + std::to_string(width / heads) + " (query width / num_heads) is above the kernels' " +
           std::to_string(kMaxHeadDim);
  }
  return {};
}

size_t AlignUp(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

// The kernels' scratch ([B, H, N] lse and column sums), then, for an int32 mask, its int64 copy.
size_t WorkspaceBytes(int64_t batch, int64_t length, int64_t heads, DataType mask_type) {
  if (batch <= 0 || length <= 0) return 0;
  const size_t scratch = acc_ops::AccScoreScratchBytes(batch, length, heads);
  if (mask_type != DataType::kINT32) return scratch;
  return AlignUp(scratch) + static_cast<size_t>(batch * length) * sizeof(int64_t);
}

std::string Identity(int32_t heads, float scale) {
  char text[64];
  std::snprintf(text, sizeof(text), "num_heads=%d scale=%.9g", heads, static_cast<double>(scale));
  return text;
}

bool ReadInt(const PluginField& field, int64_t& out) {
  if (field.data == nullptr || field.length < 1) return false;
  switch (field.type) {
    case PluginFieldType::kINT32: out = *static_cast<const int32_t*>(field.data); return true;
    case PluginFieldType::kINT64: out = *static_cast<const int64_t*>(field.data); return true;
    case PluginFieldType::kINT16: out = *static_cast<const int16_t*>(field.data); return true;
    case PluginFieldType::kINT8: out = *static_cast<const int8_t*>(field.data); return true;
    default: return false;
  }
}

bool ReadFloat(const PluginField& field, float& out) {
  if (field.data == nullptr || field.length < 1) return false;
  switch (field.type) {
    case PluginFieldType::kFLOAT32: out = *static_cast<const float*>(field.data); return true;
    case PluginFieldType::kFLOAT64: out = static_cast<float>(*static_cast<const double*>(field.data)); return true;
    default: return false;
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------------------ plugin
AccScorePlugin::AccScorePlugin(int32_t num_heads, float scale)
    : heads_(num_heads), scale_(scale), id_(Identity(num_heads, scale)) {}

nvinfer1::IPluginCapability* AccScorePlugin::getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept {
  switch (type) {
    case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
    case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
    case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
  }
  return nullptr;
}

nvinfer1::IPluginV3* AccScorePlugin::clone() noexcept {
  try {
    return new AccScorePlugin(heads_, scale_);
  } catch (const std::exception& exc) {
    LogError(std::string("cannot clone the plugin: ") + exc.what());
    return nullptr;
  }
}

int32_t AccScorePlugin::configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nb_inputs,
                                        const nvinfer1::DynamicPluginTensorDesc* /*out*/, int32_t nb_outputs) noexcept {
  if (nb_inputs != kInputs || nb_outputs != kOutputs) {
    LogError("expects 3 inputs (query, key, mask) and 1 output, got " + std::to_string(nb_inputs) + " and " +
             std::to_string(nb_outputs));
    return 1;
  }
  const std::string problem = CheckDims(in[0].desc.dims, in[1].desc.dims, in[2].desc.dims, heads_);
  if (!problem.empty()) LogError(problem);
  return problem.empty() ? 0 : 1;
}

int32_t AccScorePlugin::getOutputDataTypes(DataType* output_types, int32_t nb_outputs, const DataType* input_types,
                                           int32_t nb_inputs) const noexcept {
  if (nb_inputs != kInputs || nb_outputs != kOutputs) {
    LogError("expects 3 inputs (query, key, mask) and 1 output");
    return 1;
  }
  if (!IsProjection(input_types[0]) || input_types[1] != input_types[0] || !IsMask(input_types[2])) {
    LogError("query and key must both be float or both half, mask int64 (or int32)");
    return 1;
  }
  output_types[0] = DataType::kFLOAT;
  return 0;
}

int32_t AccScorePlugin::getOutputShapes(const nvinfer1::DimsExprs* inputs, int32_t nb_inputs,
                                        const nvinfer1::DimsExprs* /*shape_inputs*/, int32_t nb_shape_inputs,
                                        nvinfer1::DimsExprs* outputs, int32_t nb_outputs,
                                        nvinfer1::IExprBuilder& /*expr_builder*/) noexcept {
  if (nb_inputs != kInputs || nb_shape_inputs != 0 || nb_outputs != kOutputs) {
    LogError("expects 3 tensor inputs (query, key, mask), no shape inputs, and 1 output");
    return 1;
  }
  if (inputs[0].nbDims != 3 || inputs[1].nbDims != 3 || inputs[2].nbDims != 2) {
    LogError("query and key must be rank 3 [B, N, num_heads*head_dim] and mask rank 2 [B, N]");
    return 1;
  }
  const nvinfer1::IDimensionExpr* width = inputs[0].d[2];
  if (width->isConstant() && (width->getConstantValue() <= 0 || width->getConstantValue() % heads_ != 0)) {
    LogError("query width " + std::to_string(width->getConstantValue()) + " is not a positive multiple of num_heads=" +
             std::to_string(heads_));
    return 1;
  }
  outputs[0] = inputs[2];  // score has the mask's dims [B, N]
  return 0;
}

bool AccScorePlugin::supportsFormatCombination(int32_t pos, const nvinfer1::DynamicPluginTensorDesc* in_out,
                                               int32_t nb_inputs, int32_t nb_outputs) noexcept {
  if (nb_inputs != kInputs || nb_outputs != kOutputs || pos < 0 || pos >= kInputs + kOutputs) return false;
  const nvinfer1::PluginTensorDesc& desc = in_out[pos].desc;
  if (desc.format != TensorFormat::kLINEAR) return false;  // row-major, as the kernels index
  switch (pos) {
    case 0: return IsProjection(desc.type);
    case 1: return desc.type == in_out[0].desc.type;
    case 2: return IsMask(desc.type);
    default: return desc.type == DataType::kFLOAT;
  }
}

size_t AccScorePlugin::getWorkspaceSize(const nvinfer1::DynamicPluginTensorDesc* inputs, int32_t nb_inputs,
                                        const nvinfer1::DynamicPluginTensorDesc* /*outputs*/,
                                        int32_t /*nb_outputs*/) const noexcept {
  if (nb_inputs != kInputs || inputs[0].max.nbDims != 3) return 0;
  // The largest shape of the profile: enough for every smaller one, as TensorRT requires.
  return WorkspaceBytes(inputs[0].max.d[0], inputs[0].max.d[1], heads_, inputs[2].desc.type);
}

int32_t AccScorePlugin::onShapeChange(const nvinfer1::PluginTensorDesc* in, int32_t nb_inputs,
                                      const nvinfer1::PluginTensorDesc* /*out*/, int32_t nb_outputs) noexcept {
  if (nb_inputs != kInputs || nb_outputs != kOutputs) return 1;
  const std::string problem = CheckDims(in[0].dims, in[1].dims, in[2].dims, heads_);
  if (!problem.empty()) LogError(problem);
  return problem.empty() ? 0 : 1;
}

int32_t AccScorePlugin::enqueue(const nvinfer1::PluginTensorDesc* input_desc,
                                const nvinfer1::PluginTensorDesc* /*output_desc*/, const void* const* inputs,
                                void* const* outputs, void* workspace, cudaStream_t stream) noexcept {
  const Dims& query = input_desc[0].dims;
  const int64_t batch = query.d[0], length = query.d[1], head_dim = query.d[2] / heads_;
  if (batch == 0 || length == 0) return 0;
  const auto* mask = static_cast<const int64_t*>(inputs[2]);
  if (input_desc[2].type == DataType::kINT32) {
    auto* widened = reinterpret_cast<int64_t*>(static_cast<char*>(workspace) +
                                               AlignUp(acc_ops::AccScoreScratchBytes(batch, length, heads_)));
    if (const char* error = LaunchWidenMask(static_cast<const int32_t*>(inputs[2]), widened, batch * length, stream)) {
      LogError(error);
      return 1;
    }
    mask = widened;
  }
  const char* error = acc_ops::LaunchAccScore(inputs[0], inputs[1], mask, input_desc[0].type == DataType::kHALF, batch,
                                              length, heads_, head_dim, scale_, workspace,
                                              static_cast<float*>(outputs[0]), stream);
  if (error != nullptr) {
    LogError(error);
    return 1;
  }
  return 0;
}

nvinfer1::IPluginV3* AccScorePlugin::attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept {
  return clone();  // no per-context resources: the workspace comes from TensorRT at each enqueue
}

const nvinfer1::PluginFieldCollection* AccScorePlugin::getFieldsToSerialize() noexcept {
  try {
    fields_.clear();
    fields_.emplace_back("num_heads", &heads_, PluginFieldType::kINT32, 1);
    fields_.emplace_back("scale", &scale_, PluginFieldType::kFLOAT32, 1);
  } catch (const std::exception& exc) {
    LogError(std::string("cannot list the fields to serialize: ") + exc.what());
    return nullptr;
  }
  collection_.nbFields = static_cast<int32_t>(fields_.size());
  collection_.fields = fields_.data();
  return &collection_;
}

// ----------------------------------------------------------------------------------------------------- creator
AccScorePluginCreator::AccScorePluginCreator() {
  fields_.emplace_back("num_heads", nullptr, PluginFieldType::kINT32, 1);
  fields_.emplace_back("scale", nullptr, PluginFieldType::kFLOAT32, 1);
  collection_.nbFields = static_cast<int32_t>(fields_.size());
  collection_.fields = fields_.data();
}

nvinfer1::IPluginV3* AccScorePluginCreator::createPlugin(const char* /*name*/, const nvinfer1::PluginFieldCollection* fc,
                                                         nvinfer1::TensorRTPhase /*phase*/) noexcept {
  try {
    int64_t heads = 0;
    float scale = 0.0f;
    bool has_heads = false, has_scale = false;
    for (int32_t i = 0; fc != nullptr && i < fc->nbFields; ++i) {
      const PluginField& field = fc->fields[i];
      if (field.name == nullptr) continue;
      const std::string name = field.name;
      if (name == "num_heads") {
        if (!ReadInt(field, heads)) {
          LogError("attribute num_heads must be an int");
          return nullptr;
        }
        has_heads = true;
      } else if (name == "scale") {
        if (!ReadFloat(field, scale)) {
          LogError("attribute scale must be a float");
          return nullptr;
        }
        has_scale = true;
      }
    }
    if (!has_heads || !has_scale) {
      LogError(std::string("attribute ") + (has_heads ? "scale (float)" : "num_heads (int)") +
               " is missing; export the node with traceable_acc_score");
      return nullptr;
    }
    if (heads < 1 || heads > std::numeric_limits<int32_t>::max()) {
      LogError("attribute num_heads must be >= 1, got " + std::to_string(heads));
      return nullptr;
    }
    return new AccScorePlugin(static_cast<int32_t>(heads), scale);
  } catch (const std::exception& exc) {
    LogError(std::string("cannot create the plugin: ") + exc.what());
    return nullptr;
  }
}

}  // namespace acc_trt
