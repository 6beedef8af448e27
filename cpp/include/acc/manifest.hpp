// Read and verify a bundle's manifest.json, by the rules of acc.runtime.manifest / acc.runtime.integrity: the same
// format checks, the same required keys, every referenced file listed, every listed file present with its recorded
// size and sha256. Failures are one BundleError line naming the bundle, the problem and the fix.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "acc/profile.hpp"

namespace acc {

inline constexpr const char* kManifestName = "manifest.json";
inline constexpr const char* kBundleFormat = "acc-bundle";
inline constexpr int kSupportedFormatVersion = 1;

/// What the graphs compute: architecture numbers, label names and the inputs the graphs take.
struct ModelCard {
    std::string name;
    std::string source;
    std::string architecture;
    int num_layers = 0;
    int hidden_size = 0;
    int num_heads = 0;
    int intermediate_size = 0;
    std::vector<std::string> labels;
    int max_length = 0;
    std::vector<std::string> inputs;

    EncoderShape shape() const { return {num_layers, hidden_size, intermediate_size, num_heads, 0, false}; }
};

/// Content identity of one bundle file.
struct FileEntry {
    std::string sha256;
    std::int64_t bytes = 0;
};

/// One shipped profile and the graph that runs it.
struct ProfileEntry {
    std::string name;
    std::string graph;
    Profile profile;

    double target_speedup() const { return profile.target_speedup; }
};

/// The graph whose keep ratios are an input (float[num_layers]), so any speedup can run.
struct AdjustableEntry {
    std::string graph;
    std::string input;
};

/// A prebuilt engine, keyed by (profile, backend, compute capability, precision).
struct EngineEntry {
    std::string profile;
    std::string backend;
    std::string compute_capability;
    std::string precision;
    std::string file;
    std::optional<std::string> trt_version;
};

/// Accuracy of one profile on one data set.
struct AccuracyRow {
    std::string profile;
    std::string dataset;
    std::int64_t examples = 0;
    double accuracy = 0.0;
    std::optional<double> label_agreement;
    std::optional<double> max_abs_diff;
};

/// Measured latency of one profile at one (backend, device, batch, seq) point, in milliseconds.
struct LatencyRow {
    std::string profile;
    std::string backend;
    std::string device;
    std::int64_t batch = 0;
    std::int64_t seq = 0;
    double p50_ms = 0.0;
    double p99_ms = 0.0;
    std::optional<std::int64_t> threads;
};

/// The measured tables the policy decides from.
struct Tables {
    std::vector<AccuracyRow> accuracy;
    std::vector<LatencyRow> latency;
};

/// A parsed manifest.json; bundle_dir resolves the relative paths.
struct Manifest {
    std::filesystem::path bundle_dir;
    int format_version = 0;
    std::string created_utc;
    std::map<std::string, std::string> versions;  // package -> version (non-string values as JSON text)
    ModelCard model;
    std::string tokenizer = "tokenizer";
    std::map<std::string, FileEntry> files;
    std::vector<ProfileEntry> profiles;
    std::optional<AdjustableEntry> adjustable;
    std::vector<EngineEntry> engines;
    Tables tables;
    bool allow_mismatch = false;
    std::string digest;  // the bundle's identity: "sha256:" + sha256 of manifest.json's bytes (as acc-export prints)

    std::vector<std::string> profile_names() const;
    /// The entry called name; PolicyError listing the shipped names when there is none.
    const ProfileEntry& profile(const std::string& name) const;
    /// Absolute path of a file named relative to the bundle root.
    std::filesystem::path path(const std::string& relative) const { return bundle_dir / relative; }
    /// The bytes of a listed file, read once and checked (size, sha256) on those very bytes: what ONNX Runtime and
    /// the tokenizer are given, so a file changed on disk after the load-time check is refused, never used.
    /// BundleError for an unlisted file (it is never read) or one that fails its check.
    std::string read_file(const std::string& relative) const;
};

/// Parse and check bundle_dir/manifest.json. Always checked: directory, JSON, format and version, required keys,
/// references, presence and size of every listed file; verify=true also re-hashes every file (sha256).
Manifest read_manifest(const std::filesystem::path& bundle_dir, bool verify = true);

/// expected (as acc-export printed it, "sha256:" optional, any case) must be the manifest's digest; BundleError
/// with the Python runtime's message otherwise.
void check_digest(const Manifest& manifest, const std::string& expected);

}  // namespace acc
