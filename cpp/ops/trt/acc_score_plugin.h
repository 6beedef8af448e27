// ai.acc::AccScore as a TensorRT IPluginV3 (build + runtime capabilities) and its IPluginCreatorV3One.
//
// Same contract as the ONNX Runtime op (exporter/acc_score.py): query/key [B, N, H·dh] float or half (one type),
// mask [B, N] int64 (int32 accepted: widened into the workspace), attributes num_heads (int) and scale (float),
// output score [B, N] float. The maths is the CUDA kernels of ../src/acc_score.cu (+ acc_score_wmma.cu for half),
// called through acc_score_cuda.h on TensorRT's stream with TensorRT's workspace as their scratch; nothing N × N.
//
// Name "AccScore", version "1", namespace "ai.acc": TensorRT's ONNX parser (>= 10.10) takes a fallback plugin's
// namespace from the node's domain, so an ai.acc::AccScore node maps to this creator once the library is loaded.
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>
#include <vector>

namespace acc_trt {

inline constexpr const char* kPluginName = "AccScore";
inline constexpr const char* kPluginVersion = "1";
inline constexpr const char* kPluginNamespace = "ai.acc";
// Largest head size the kernels take (LaunchAccScore rejects larger ones); checked at build time instead.
inline constexpr int64_t kMaxHeadDim = 128;

class AccScorePlugin final : public nvinfer1::IPluginV3,
                             public nvinfer1::IPluginV3OneCore,
                             public nvinfer1::IPluginV3OneBuild,
                             public nvinfer1::IPluginV3OneRuntime {
 public:
  AccScorePlugin(int32_t num_heads, float scale);
  ~AccScorePlugin() override = default;
  AccScorePlugin(const AccScorePlugin&) = delete;
  AccScorePlugin& operator=(const AccScorePlugin&) = delete;

  // IPluginV3
  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
  nvinfer1::IPluginV3* clone() noexcept override;

  // IPluginV3OneCore
  const char* getPluginName() const noexcept override { return kPluginName; }
  const char* getPluginVersion() const noexcept override { return kPluginVersion; }
  const char* getPluginNamespace() const noexcept override { return kPluginNamespace; }

  // IPluginV3OneBuild
  int32_t configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nb_inputs,
                          const nvinfer1::DynamicPluginTensorDesc* out, int32_t nb_outputs) noexcept override;
  int32_t getOutputDataTypes(nvinfer1::DataType* output_types, int32_t nb_outputs, const nvinfer1::DataType* input_types,
                             int32_t nb_inputs) const noexcept override;
  int32_t getOutputShapes(const nvinfer1::DimsExprs* inputs, int32_t nb_inputs, const nvinfer1::DimsExprs* shape_inputs,
                          int32_t nb_shape_inputs, nvinfer1::DimsExprs* outputs, int32_t nb_outputs,
                          nvinfer1::IExprBuilder& expr_builder) noexcept override;
  bool supportsFormatCombination(int32_t pos, const nvinfer1::DynamicPluginTensorDesc* in_out, int32_t nb_inputs,
                                 int32_t nb_outputs) noexcept override;
  int32_t getNbOutputs() const noexcept override { return 1; }
  size_t getWorkspaceSize(const nvinfer1::DynamicPluginTensorDesc* inputs, int32_t nb_inputs,
                          const nvinfer1::DynamicPluginTensorDesc* outputs, int32_t nb_outputs) const noexcept override;
  const char* getTimingCacheID() noexcept override { return id_.c_str(); }
  const char* getMetadataString() noexcept override { return id_.c_str(); }

  // IPluginV3OneRuntime
  int32_t onShapeChange(const nvinfer1::PluginTensorDesc* in, int32_t nb_inputs, const nvinfer1::PluginTensorDesc* out,
                        int32_t nb_outputs) noexcept override;
  int32_t enqueue(const nvinfer1::PluginTensorDesc* input_desc, const nvinfer1::PluginTensorDesc* output_desc,
                  const void* const* inputs, void* const* outputs, void* workspace,
                  cudaStream_t stream) noexcept override;
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldsToSerialize() noexcept override;

 private:
  int32_t heads_;
  float scale_;
  std::string id_;  // "num_heads=H scale=S": timing-cache key and metadata (attribute values only, as TensorRT asks)
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection collection_{};
};

class AccScorePluginCreator final : public nvinfer1::IPluginCreatorV3One {
 public:
  AccScorePluginCreator();

  // Build phase: the ONNX node's attributes (the parser passes INT as kINT32, FLOAT as kFLOAT32; kINT64/kFLOAT64 from
  // hand-built networks are accepted too). Runtime phase: the fields of getFieldsToSerialize. nullptr + a logged
  // reason when num_heads or scale is missing or invalid.
  nvinfer1::IPluginV3* createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fc,
                                    nvinfer1::TensorRTPhase phase) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldNames() noexcept override { return &collection_; }
  const char* getPluginName() const noexcept override { return kPluginName; }
  const char* getPluginVersion() const noexcept override { return kPluginVersion; }
  const char* getPluginNamespace() const noexcept override { return kPluginNamespace; }

 private:
  std::vector<nvinfer1::PluginField> fields_;
  nvinfer1::PluginFieldCollection collection_{};
};

}  // namespace acc_trt
