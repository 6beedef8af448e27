// acc::Runtime: load a bundle once (manifest checked, every file re-hashed, tokenizer loaded from its verified
// bytes), then per request encode, pick a profile with the same policy as the Python runtime, run that profile's
// graph and report. Graph sessions are created on first use, from bytes re-read and re-checked then, and cached;
// one Runtime serves many threads.
//
//   acc::Runtime rt("bundles/bert-sst2");
//   acc::Prediction p = rt.predict({"a gorgeous, witty, seductive movie ."}, {.speedup = 3});
//   p.labels[0], p.profile, p.latency_ms
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "acc/backend.hpp"
#include "acc/errors.hpp"
#include "acc/manifest.hpp"
#include "acc/policy.hpp"
#include "acc/profile.hpp"
#include "acc/tokenizer.hpp"

namespace acc {

struct RuntimeOptions {
    std::string backend = "auto";     // "auto"/"ort": ONNX Runtime (CPU); "trt": the bundle's TensorRT engines
                                      // (builds that found TensorRT, ACC_WITH_TENSORRT; shipped profiles only)
    bool verify = true;               // re-hash every bundle file at load (false: only the files a request uses
                                      // are checked, on the bytes read when its session is made)
    std::optional<int> threads;       // ONNX Runtime intra-op threads (default: ONNX Runtime's)
    std::string digest;               // non-empty: refuse a bundle whose digest differs (acc-export prints it)
};

/// Result of one request. probabilities / logits: float32 row-major [batch_size, labels.size() of the model].
struct Prediction {
    std::vector<std::string> labels;
    std::vector<int> label_ids;
    std::vector<float> probabilities;
    std::vector<float> logits;
    std::int64_t num_labels = 0;
    std::string profile;
    std::string reason;
    std::string backend;
    double latency_ms = 0.0;  // wall time of the graph run only
    std::int64_t batch_size = 0;

    float logit(std::int64_t row, std::int64_t label) const { return logits[row * num_labels + label]; }
    float probability(std::int64_t row, std::int64_t label) const { return probabilities[row * num_labels + label]; }
};

class Runtime {
public:
    /// Read and verify the bundle and load its tokenizer; BundleError / BackendError name the problem and the fix.
    explicit Runtime(const std::filesystem::path& bundle, RuntimeOptions options = {});
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    /// Classify texts (cut to the model's max_length unless truncate is false: then DataError).
    Prediction predict(const std::vector<std::string>& texts, const Request& request = {}, bool truncate = true) const;
    /// Classify padded token ids: ids and mask are [batch][seq] (equal-length rows, mask 1 on real tokens).
    Prediction predict(const std::vector<std::vector<std::int64_t>>& ids,
                       const std::vector<std::vector<std::int64_t>>& mask, const Request& request = {}) const;
    /// Classify an encoded batch (from encode() / encode_ids()).
    Prediction predict(const Batch& batch, const Request& request = {}) const;

    /// Texts -> one padded batch (dynamic padding to the longest text).
    Batch encode(const std::vector<std::string>& texts, bool truncate = true) const;
    /// Unpadded token-id lists ([CLS] ... [SEP]) -> one padded batch; too long: cut, keeping a final [SEP].
    Batch encode_ids(const std::vector<std::vector<std::int64_t>>& ids, bool truncate = true) const;

    /// The policy's choice for a request of this shape on this runtime's backend (nothing is run).
    Choice choose(const Request& request, std::int64_t batch = 1, std::int64_t seq_len = 64) const;
    /// Run an encoded batch on the graph of choice; the step after the policy.
    Prediction run(const Batch& batch, const Choice& choice) const;

    const Manifest& manifest() const { return manifest_; }
    const WordPieceTokenizer& tokenizer() const { return tokenizer_; }
    const std::vector<std::string>& labels() const { return manifest_.model.labels; }
    /// Latency-table key of the backend ("ort-cpu") and of this machine (the CPU model name).
    const std::string& backend_name() const { return backend_name_; }
    const std::string& device_name() const { return device_name_; }

private:
    Backend& backend_for(const Choice& choice, std::vector<float>& keep_ratios) const;
    const Profile& adhoc_profile(double speedup) const;

    Manifest manifest_;
    WordPieceTokenizer tokenizer_;
    RuntimeOptions options_;
    std::string backend_name_;
    std::string device_name_;
    std::string device_cc_;  // TensorRT only: compute capability of GPU 0 ("sm90")
    mutable std::mutex backends_mutex_;
    mutable std::map<std::string, std::unique_ptr<Backend>> backends_;  // by the graph's (or engine's) bundle path
    mutable std::mutex adhoc_mutex_;
    mutable std::map<double, Profile> adhoc_;
};

/// The CPU model name (/proc/cpuinfo "model name"), the device key of CPU latency rows, as the Python runtime has it.
std::string cpu_name();

}  // namespace acc
