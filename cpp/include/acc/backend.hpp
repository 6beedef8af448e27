// The interface every engine runner implements (ONNX Runtime here; TensorRT when the build finds it): run one graph
// on a padded batch and return its logits. Implementations are thread-safe for run().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace acc {

/// Padded model inputs, int64 row-major [batch, seq]; attention_mask is 1 on real tokens.
struct Batch {
    std::vector<std::int64_t> input_ids;
    std::vector<std::int64_t> attention_mask;
    std::vector<std::int64_t> token_type_ids;
    std::int64_t batch = 0;
    std::int64_t seq = 0;
};

/// Logits, float32 row-major [rows, cols].
struct Logits {
    std::vector<float> values;
    std::int64_t rows = 0;
    std::int64_t cols = 0;
};

class Backend {
public:
    virtual ~Backend() = default;
    /// Latency-table key of this backend: "ort-cpu", "tensorrt", ...
    virtual std::string name() const = 0;
    /// Run the graph; keep_ratios (float[num_layers]) feeds the input named keep_ratios_input when the graph has it.
    virtual Logits run(const Batch& batch, const std::vector<float>* keep_ratios = nullptr,
                       const std::string& keep_ratios_input = "keep_ratios") = 0;
};

}  // namespace acc
