// TensorRT backend: runs one prebuilt engine of the bundle (engines/<profile>.<backend>.<cc>.<precision>.engine)
// after check_engine_compatible. Compiled only when CMake finds TensorRT (or TensorRT-RTX) and the CUDA runtime
// (ACC_WITH_TENSORRT); the execution context is not thread-safe, so run() calls are serialised.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "acc/backend.hpp"
#include "acc/manifest.hpp"

namespace acc {

class TrtBackend : public Backend {
public:
    /// Checks the record against this build's TensorRT and GPU 0, then deserializes the engine file's verified bytes
    /// (Manifest::read_file).
    TrtBackend(const Manifest& manifest, const EngineEntry& record);
    ~TrtBackend() override;
    std::string name() const override;
    Logits run(const Batch& batch, const std::vector<float>* keep_ratios = nullptr,
               const std::string& keep_ratios_input = "keep_ratios") override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// "tensorrt" or "tensorrt-rtx": the backend key of engine records this build can run.
std::string trt_backend_name();
/// Version of the TensorRT library loaded at run time ("10.3.0").
std::string trt_library_version();
/// Compute capability of CUDA device 0 ("sm90") and its name ("NVIDIA H100 80GB HBM3").
std::string cuda_device_cc();
std::string cuda_device_name();

}  // namespace acc
