// ONNX Runtime backend: one Ort::Session per graph, made from the graph's verified bytes (read_graph), its external
// weights (graphs/weights.bin) handed over as verified in-memory files, as the Python runtime does.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "acc/backend.hpp"
#include "acc/verified_graph.hpp"

namespace acc {

class OrtBackend : public Backend {
public:
    /// threads: intra-op threads (default: ONNX Runtime's). BundleError when the graph cannot be loaded. The
    /// buffers of graph are copied by ONNX Runtime; they need not outlive the constructor.
    explicit OrtBackend(const VerifiedGraph& graph, std::optional<int> threads = std::nullopt);
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
