// ONNX Runtime backend: one Ort::Session per graph file, loaded by path so the shared external weights
// (graphs/weights.bin) and the graph's local functions (ai.acc::TokenSelect) resolve as in the Python runtime.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "acc/backend.hpp"

namespace acc {

class OrtBackend : public Backend {
public:
    /// threads: intra-op threads (default: ONNX Runtime's). BundleError when the graph cannot be loaded.
    explicit OrtBackend(const std::filesystem::path& graph, std::optional<int> threads = std::nullopt);
    ~OrtBackend() override;
    std::string name() const override { return "ort-cpu"; }
    Logits run(const Batch& batch, const std::vector<float>* keep_ratios = nullptr,
               const std::string& keep_ratios_input = "keep_ratios") override;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Version string of the ONNX Runtime library loaded at run time (e.g. "1.32.0").
std::string ort_version();

}  // namespace acc
