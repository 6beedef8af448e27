#include "trt_log.h"

#include <cstdio>
#include <mutex>

namespace acc_trt {
namespace {

std::mutex g_mutex;
nvinfer1::ILoggerFinder* g_finder = nullptr;

}  // namespace

void SetLoggerFinder(nvinfer1::ILoggerFinder* finder) noexcept {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_finder == nullptr && finder != nullptr) g_finder = finder;
}

void Log(nvinfer1::ILogger::Severity severity, const std::string& message) noexcept {
  try {
    const std::string line = "AccScore: " + message;
    nvinfer1::ILogger* logger = nullptr;
    {
      std::lock_guard<std::mutex> lock(g_mutex);
      // findLogger must run on the thread of the plugin call, which is this one.
      if (g_finder != nullptr) logger = g_finder->findLogger();
    }
    if (logger != nullptr) {
      logger->log(severity, line.c_str());
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  } catch (...) {
    // Logging must never throw out of a noexcept plugin method; an allocation failure drops the message.
  }
}

}  // namespace acc_trt
