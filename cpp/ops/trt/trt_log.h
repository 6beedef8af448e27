// Where the plugin's messages go: the logger of the TensorRT builder or runtime that loaded the library (handed over
// through setLoggerFinder), else stderr. TensorRT reports a failing plugin call only as a non-zero code, so the reason
// (bad attribute, unsupported shape) must be logged here or it is lost.
#pragma once

#include <NvInferRuntime.h>

#include <string>

namespace acc_trt {

// Remembers the finder passed to the library's setLoggerFinder entry point (first non-null one wins, as TensorRT's
// own plugin libraries do). Thread-safe.
void SetLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept;

// "AccScore: <message>" to TensorRT's logger at `severity`, or to stderr when no logger was handed over.
void Log(nvinfer1::ILogger::Severity severity, const std::string& message) noexcept;

inline void LogError(const std::string& message) noexcept { Log(nvinfer1::ILogger::Severity::kERROR, message); }

}  // namespace acc_trt
