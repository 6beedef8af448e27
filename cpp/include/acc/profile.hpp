// Elimination profiles and offline-tuning, mirroring acc.profiles: per-layer keep ratios, the FLOPs model and the
// bisection that turns a requested speedup into ratios for the adjustable graph. Same arithmetic as Python
// (double FLOPs, float32 keep counts), so both runtimes feed the adjustable graph the same ratios.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace acc {

inline constexpr int kDefaultReferenceLength = 128;

/// The few numbers of a transformer encoder the FLOPs model needs.
struct EncoderShape {
    int num_layers = 0;
    int hidden_size = 0;
    int intermediate_size = 0;
    int num_heads = 12;
    int attention_size = 0;  // width of Q/K/V when it differs from hidden_size (T5); 0: hidden_size
    bool gated_ffn = false;  // three FFN matrices instead of two (T5 v1.1, Flan-T5)
};

/// One elimination profile; keep_ratios[l] applies to the sample's valid length before layer l.
struct Profile {
    std::string name;
    std::vector<double> keep_ratios;
    double target_speedup = 1.0;
    double theoretical_speedup = 1.0;
    int reference_length = kDefaultReferenceLength;
    int min_keep = 1;
    std::string family = "geometric";
    std::optional<double> tilt;
    std::string flops_model = "bert-encoder-v1";

    /// Throws ProfileError unless ratios are non-empty, start at 1, lie in (0, 1], never increase; min_keep >= 1.
    void validate() const;
};

/// Word-vectors entering each layer for one sample of n_valid real tokens (layer 1 sees them all).
std::vector<int> keep_counts(const std::vector<double>& keep_ratios, int n_valid, int min_keep = 1);

/// Dense encoder FLOPs over pruned encoder FLOPs for one sample of reference_length tokens.
double theoretical_speedup(const std::vector<double>& keep_ratios, const EncoderShape& shape, int reference_length,
                           int min_keep = 1);

/// Offline-tuning: the geometric profile (ratio_l = (1 - tilt)^l) whose theoretical speedup at reference_length
/// reaches speedup; the smallest such tilt, found by bisection. Throws ProfileError when unreachable.
Profile profile_for_speedup(const EncoderShape& shape, double speedup,
                            int reference_length = kDefaultReferenceLength, int min_keep = 1,
                            const std::string& name = "");

}  // namespace acc
