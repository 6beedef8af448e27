// acc_trt_plugin_check <libacc_trt_plugins.so>: the build-phase half of the plugin checked on a machine without a GPU
// or TensorRT. Loads the library as IPluginRegistry::loadLibrary does (dlopen + getCreators + setLoggerFinder) and
// drives creator and plugin through the IPluginV3 interfaces with the values TensorRT's ONNX parser and builder pass:
// attribute fields, data types, format combinations, workspace sizes, shape checks, serialization round trip.
// enqueue (the CUDA kernels) and getOutputShapes (needs TensorRT's IExprBuilder) are not reachable here.
// Prints one line per failed check and exits 1 if any failed.
#include <NvInferRuntime.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

using namespace nvinfer1;

namespace {

int g_failures = 0;

void Check(bool ok, const std::string& what) {
  if (!ok) {
    std::printf("FAIL: %s\n", what.c_str());
    ++g_failures;
  }
}

// Records what the plugin logs, as TensorRT's logger would receive it.
class RecordingLogger : public ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kWARNING) messages.emplace_back(msg);
  }
  std::vector<std::string> messages;
};

class Finder : public ILoggerFinder {
 public:
  explicit Finder(ILogger* logger) : logger_(logger) {}
  ILogger* findLogger() override { return logger_; }

 private:
  ILogger* logger_;
};

DynamicPluginTensorDesc Desc(std::vector<int64_t> dims, DataType type) {
  DynamicPluginTensorDesc desc{};
  desc.desc.dims.nbDims = static_cast<int32_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) desc.desc.dims.d[i] = dims[i];
  desc.desc.type = type;
  desc.desc.format = TensorFormat::kLINEAR;
  desc.min = desc.opt = desc.max = desc.desc.dims;
  return desc;
}

struct PluginDeleter {
  void operator()(IPluginV3* plugin) const { delete plugin; }
};
using PluginPtr = std::unique_ptr<IPluginV3, PluginDeleter>;

PluginPtr Create(IPluginCreatorV3One* creator, std::vector<PluginField> fields, TensorRTPhase phase) {
  PluginFieldCollection collection{static_cast<int32_t>(fields.size()), fields.data()};
  return PluginPtr(creator->createPlugin("acc_score_node", &collection, phase));
}

bool LastLogMentions(const RecordingLogger& logger, const char* text) {
  return !logger.messages.empty() && logger.messages.back().find(text) != std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s libacc_trt_plugins.so\n", argv[0]);
    return 2;
  }
  void* library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    std::printf("FAIL: dlopen: %s\n", dlerror());
    return 1;
  }
  using GetCreators = IPluginCreatorInterface* const* (*)(int32_t&);
  using SetLoggerFinder = void (*)(ILoggerFinder*);
  auto get_creators = reinterpret_cast<GetCreators>(dlsym(library, "getCreators"));
  auto set_logger_finder = reinterpret_cast<SetLoggerFinder>(dlsym(library, "setLoggerFinder"));
  if (get_creators == nullptr || set_logger_finder == nullptr) {
    std::printf("FAIL: getCreators / setLoggerFinder not exported\n");
    return 1;
  }
  RecordingLogger logger;
  Finder finder(&logger);
  set_logger_finder(&finder);

  int32_t count = -1;
  IPluginCreatorInterface* const* creators = get_creators(count);
  Check(count == 1 && creators != nullptr, "getCreators lists one creator");
  if (count != 1 || creators == nullptr) return 1;
  Check(std::strcmp(creators[0]->getInterfaceInfo().kind, "PLUGIN CREATOR_V3ONE") == 0, "creator is IPluginCreatorV3One");
  auto* creator = static_cast<IPluginCreatorV3One*>(creators[0]);
  Check(std::strcmp(creator->getPluginName(), "AccScore") == 0, "creator name AccScore");
  Check(std::strcmp(creator->getPluginVersion(), "1") == 0, "creator version 1");
  Check(std::strcmp(creator->getPluginNamespace(), "ai.acc") == 0, "creator namespace ai.acc");
  const PluginFieldCollection* names = creator->getFieldNames();
  Check(names != nullptr && names->nbFields == 2 && std::strcmp(names->fields[0].name, "num_heads") == 0 &&
            names->fields[0].type == PluginFieldType::kINT32 && std::strcmp(names->fields[1].name, "scale") == 0 &&
            names->fields[1].type == PluginFieldType::kFLOAT32,
        "field names num_heads (kINT32), scale (kFLOAT32)");

  // Attributes as the ONNX parser converts them: INT -> kINT32, FLOAT -> kFLOAT32.
  int32_t heads = 12;
  float scale = 0.125f;
  PluginPtr plugin = Create(creator, {PluginField("num_heads", &heads, PluginFieldType::kINT32, 1),
                                      PluginField("scale", &scale, PluginFieldType::kFLOAT32, 1)},
                            TensorRTPhase::kBUILD);
  Check(plugin != nullptr, "createPlugin from parser-style fields");
  if (plugin == nullptr) return 1;
  Check(std::strcmp(plugin->getInterfaceInfo().kind, "PLUGIN") == 0, "plugin is IPluginV3");

  Check(Create(creator, {PluginField("num_heads", &heads, PluginFieldType::kINT32, 1)}, TensorRTPhase::kBUILD) == nullptr &&
            LastLogMentions(logger, "scale (float) is missing"),
        "missing scale: nullptr and a logged reason");
  int32_t zero_heads = 0;
  Check(Create(creator, {PluginField("num_heads", &zero_heads, PluginFieldType::kINT32, 1),
                         PluginField("scale", &scale, PluginFieldType::kFLOAT32, 1)},
               TensorRTPhase::kBUILD) == nullptr &&
            LastLogMentions(logger, "num_heads must be >= 1"),
        "num_heads 0: nullptr and a logged reason");
  int64_t heads64 = 12;
  double scale64 = 0.125;
  Check(Create(creator, {PluginField("num_heads", &heads64, PluginFieldType::kINT64, 1),
                         PluginField("scale", &scale64, PluginFieldType::kFLOAT64, 1)},
               TensorRTPhase::kBUILD) != nullptr,
        "kINT64 / kFLOAT64 fields accepted");

  auto* core = static_cast<IPluginV3OneCore*>(plugin->getCapabilityInterface(PluginCapabilityType::kCORE));
  auto* build = static_cast<IPluginV3OneBuild*>(plugin->getCapabilityInterface(PluginCapabilityType::kBUILD));
  auto* runtime = static_cast<IPluginV3OneRuntime*>(plugin->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
  Check(core != nullptr && build != nullptr && runtime != nullptr, "core, build and runtime capabilities");
  if (core == nullptr || build == nullptr || runtime == nullptr) return 1;
  Check(std::strcmp(core->getInterfaceInfo().kind, "PLUGIN_V3ONE_CORE") == 0 &&
            std::strcmp(build->getInterfaceInfo().kind, "PLUGIN_V3ONE_BUILD") == 0 &&
            std::strcmp(runtime->getInterfaceInfo().kind, "PLUGIN_V3ONE_RUNTIME") == 0,
        "capability interface kinds");
  Check(std::strcmp(core->getPluginName(), "AccScore") == 0 && std::strcmp(core->getPluginVersion(), "1") == 0 &&
            std::strcmp(core->getPluginNamespace(), "ai.acc") == 0,
        "plugin name/version/namespace match the creator");
  Check(build->getNbOutputs() == 1, "one output");

  // Output types: float score for float or half projections; mismatched projections are refused.
  for (DataType projection : {DataType::kFLOAT, DataType::kHALF}) {
    for (DataType mask : {DataType::kINT64, DataType::kINT32}) {
      DataType in[3] = {projection, projection, mask};
      DataType out[1] = {DataType::kINT8};
      Check(build->getOutputDataTypes(out, 1, in, 3) == 0 && out[0] == DataType::kFLOAT, "output type float");
    }
  }
  DataType mixed[3] = {DataType::kHALF, DataType::kFLOAT, DataType::kINT64};
  DataType out_type[1];
  Check(build->getOutputDataTypes(out_type, 1, mixed, 3) != 0, "half query with float key refused");

  // Format combinations, asked position by position as TensorRT does.
  auto supports = [&](std::vector<DataType> types, int32_t pos) {
    std::vector<DynamicPluginTensorDesc> io;
    io.push_back(Desc({2, 128, 768}, types[0]));
    io.push_back(Desc({2, 128, 768}, types[1]));
    io.push_back(Desc({2, 128}, types[2]));
    io.push_back(Desc({2, 128}, types[3]));
    return build->supportsFormatCombination(pos, io.data(), 3, 1);
  };
  const DataType F = DataType::kFLOAT, H = DataType::kHALF, I64 = DataType::kINT64, I32 = DataType::kINT32;
  Check(supports({F, F, I64, F}, 0) && supports({H, H, I64, F}, 0), "query float or half");
  Check(!supports({DataType::kBF16, F, I64, F}, 0) && !supports({DataType::kINT8, F, I64, F}, 0), "query bf16/int8 refused");
  Check(supports({H, H, I64, F}, 1) && !supports({H, F, I64, F}, 1), "key has query's type");
  Check(supports({F, F, I64, F}, 2) && supports({F, F, I32, F}, 2) && !supports({F, F, F, F}, 2), "mask int64 or int32");
  Check(supports({H, H, I64, F}, 3) && !supports({H, H, I64, H}, 3), "score float only");
  {
    std::vector<DynamicPluginTensorDesc> io{Desc({2, 128, 768}, F), Desc({2, 128, 768}, F), Desc({2, 128}, I64),
                                            Desc({2, 128}, F)};
    io[0].desc.format = TensorFormat::kHWC8;
    Check(!build->supportsFormatCombination(0, io.data(), 3, 1), "non-linear format refused");
  }

  // Workspace: the kernels' scratch 2·B·H·N floats at the profile's max shape, + the widened mask for int32.
  {
    std::vector<DynamicPluginTensorDesc> in{Desc({2, 128, 768}, F), Desc({2, 128, 768}, F), Desc({2, 128}, I64)};
    in[0].max.d[0] = 8;
    in[0].max.d[1] = 512;
    std::vector<DynamicPluginTensorDesc> out{Desc({2, 128}, F)};
    const size_t scratch = 2ull * 8 * 12 * 512 * sizeof(float);
    Check(build->getWorkspaceSize(in.data(), 3, out.data(), 1) == scratch, "workspace int64 mask = scratch");
    in[2].desc.type = I32;
    const size_t aligned = (scratch + 255) / 256 * 256;
    Check(build->getWorkspaceSize(in.data(), 3, out.data(), 1) == aligned + 8ull * 512 * sizeof(int64_t),
          "workspace int32 mask = scratch + int64 copy");
  }

  // Shape checks at configure time (build) and at shape change (runtime).
  auto configure = [&](std::vector<int64_t> q, std::vector<int64_t> k, std::vector<int64_t> m) {
    std::vector<DynamicPluginTensorDesc> in{Desc(q, F), Desc(k, F), Desc(m, I64)};
    std::vector<DynamicPluginTensorDesc> out{Desc(m, F)};
    return build->configurePlugin(in.data(), 3, out.data(), 1);
  };
  Check(configure({-1, -1, 768}, {-1, -1, 768}, {-1, -1}) == 0, "dynamic B, N accepted");
  Check(configure({2, 128, 770}, {2, 128, 770}, {2, 128}) != 0 && LastLogMentions(logger, "multiple of num_heads"),
        "width not a multiple of num_heads refused, reason logged");
  Check(configure({2, 128, 3072}, {2, 128, 3072}, {2, 128}) != 0 && LastLogMentions(logger, "head size 256"),
        "head size 256 refused");
  Check(configure({2, 128, 768}, {2, 64, 768}, {2, 128}) != 0, "key shape != query shape refused");
  Check(configure({2, 128, 768}, {2, 128, 768}, {2, 64}) != 0, "mask not [B, N] refused");
  Check(configure({2, 128, 768}, {2, 128, 768}, {2, 128, 1}) != 0, "mask rank 3 refused");
  {
    std::vector<DynamicPluginTensorDesc> in{Desc({4, 77, 768}, H), Desc({4, 77, 768}, H), Desc({4, 77}, I64)};
    PluginTensorDesc rin[3] = {in[0].desc, in[1].desc, in[2].desc};
    PluginTensorDesc rout[1] = {Desc({4, 77}, F).desc};
    Check(runtime->onShapeChange(rin, 3, rout, 1) == 0, "onShapeChange accepts [4, 77, 768]");
    rin[2].dims.d[1] = 76;
    Check(runtime->onShapeChange(rin, 3, rout, 1) != 0, "onShapeChange refuses a mismatched mask");
  }

  // Serialization round trip: the runtime-phase plugin rebuilt from getFieldsToSerialize equals the original.
  const std::string metadata = build->getMetadataString();
  Check(metadata == "num_heads=12 scale=0.125", "metadata string names the attributes, got '" + metadata + "'");
  Check(build->getTimingCacheID() != nullptr && metadata == build->getTimingCacheID(), "timing cache id");
  const PluginFieldCollection* serialized = runtime->getFieldsToSerialize();
  Check(serialized != nullptr && serialized->nbFields == 2, "two fields to serialize");
  if (serialized != nullptr) {
    std::vector<PluginField> fields(serialized->fields, serialized->fields + serialized->nbFields);
    PluginPtr restored = Create(creator, fields, TensorRTPhase::kRUNTIME);
    Check(restored != nullptr, "createPlugin (runtime phase) from the serialized fields");
    if (restored != nullptr) {
      auto* restored_build = static_cast<IPluginV3OneBuild*>(restored->getCapabilityInterface(PluginCapabilityType::kBUILD));
      Check(restored_build != nullptr && metadata == restored_build->getMetadataString(), "restored attributes equal");
    }
  }
  PluginPtr cloned(plugin->clone());
  Check(cloned != nullptr, "clone");
  if (cloned != nullptr) {
    auto* cloned_build = static_cast<IPluginV3OneBuild*>(cloned->getCapabilityInterface(PluginCapabilityType::kBUILD));
    Check(metadata == cloned_build->getMetadataString(), "clone keeps the attributes");
  }
  PluginPtr attached(runtime->attachToContext(nullptr));
  Check(attached != nullptr, "attachToContext returns a clone");

  plugin.reset();
  cloned.reset();
  attached.reset();
  if (g_failures == 0) std::printf("ok: %zu messages logged through the logger finder\n", logger.messages.size());
  return g_failures == 0 ? 0 : 1;
}
