// Entry points of libacc_trt_plugins.so, the two TensorRT looks for when it loads a plugin library
// (IPluginRegistry::loadLibrary, trtexec --dynamicPlugins, a library serialized into an engine with
// --setPluginsToSerialize): getCreators lists the creators, TensorRT registers each under its own namespace;
// setLoggerFinder hands over TensorRT's logger. Nothing registers itself when the library is merely dlopen'ed.
#include <NvInferRuntime.h>

#include "acc_score_plugin.h"
#include "trt_log.h"

#define ACC_TRT_EXPORT extern "C" __attribute__((visibility("default")))

ACC_TRT_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) {
  static acc_trt::AccScorePluginCreator acc_score;
  static nvinfer1::IPluginCreatorInterface* const creators[] = {&acc_score};
  nbCreators = static_cast<int32_t>(sizeof(creators) / sizeof(creators[0]));
  return creators;
}

ACC_TRT_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder) { acc_trt::SetLoggerFinder(finder); }
