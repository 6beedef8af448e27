// Offline-tuning in C++: the FLOPs model of acc.profiles.flops and the bisection of acc.profiles.profile, written
// operation for operation like the Python (same evaluation order, double FLOPs, float32 keep counts), so the
// adjustable graph gets the same keep ratios from both runtimes.
#include "acc/profile.hpp"

#include <cmath>

#include "acc/errors.hpp"
#include "format.hpp"

namespace acc {
namespace {

constexpr int kBisectionSteps = 60;

int keep_count(double ratio, int n_valid, int n_prev, int min_keep) {
    const float product = static_cast<float>(ratio) * static_cast<float>(n_valid);  // one float32 multiply
    const int raw = static_cast<int>(std::ceil(static_cast<double>(product)));
    return std::min(std::max(raw, min_keep), n_prev);
}

/// acc.profiles.flops.layer_flops: 8·n·d·a + 2·m·n·d·ffn + 4·n²·a (a: attention width, m: FFN matrices).
double layer_flops(double n, const EncoderShape& shape) {
    const double d = shape.hidden_size;
    const double a = shape.attention_size ? shape.attention_size : shape.hidden_size;
    const double ffn_matrices = shape.gated_ffn ? 3.0 : 2.0;
    return 8.0 * n * d * a + 2.0 * ffn_matrices * n * d * shape.intermediate_size + 4.0 * n * n * a;
}

double encoder_flops(const std::vector<int>& tokens_per_layer, const EncoderShape& shape) {
    double total = 0.0;
    for (int n : tokens_per_layer) total += layer_flops(n, shape);
    return total;
}

std::vector<double> geometric_ratios(double tilt, int num_layers) {
    std::vector<double> ratios;
    for (int layer = 0; layer < num_layers; ++layer) ratios.push_back(std::pow(1.0 - tilt, double(layer)));
    return ratios;
}

double max_speedup(const EncoderShape& shape, int reference_length, int min_keep) {
    std::vector<double> ratios(static_cast<std::size_t>(shape.num_layers), 1e-9);
    ratios[0] = 1.0;
    return theoretical_speedup(ratios, shape, reference_length, min_keep);
}

}  // namespace

void Profile::validate() const {
    using detail::py_repr;
    const auto& r = keep_ratios;
    if (r.empty()) {
        throw ProfileError("profile " + py_repr(name) + " has no keep ratios; give one ratio per encoder layer");
    }
    if (r[0] != 1.0) {
        throw ProfileError("profile " + py_repr(name) + ": layer 1 must see the whole input (keep_ratios[0]=1.0)");
    }
    for (std::size_t i = 0; i < r.size(); ++i) {
        if (!(r[i] > 0.0 && r[i] <= 1.0)) {
            throw ProfileError("profile " + py_repr(name) + ": keep ratios must lie in (0, 1], got " + py_repr(r));
        }
    }
    for (std::size_t i = 1; i < r.size(); ++i) {
        if (r[i] > r[i - 1]) {
            throw ProfileError("profile " + py_repr(name) + ": keep ratios must not increase over layers, got " +
                               py_repr(r));
        }
    }
    if (min_keep < 1) {
        throw ProfileError("profile " + py_repr(name) + ": min_keep must be >= 1 ([CLS] is always kept)");
    }
}

std::vector<int> keep_counts(const std::vector<double>& keep_ratios, int n_valid, int min_keep) {
    std::vector<int> counts;
    int prev = n_valid;
    for (std::size_t layer = 0; layer < keep_ratios.size(); ++layer) {
        const int k = layer == 0 ? n_valid : keep_count(keep_ratios[layer], n_valid, prev, min_keep);
        counts.push_back(k);
        prev = k;
    }
    return counts;
}

double theoretical_speedup(const std::vector<double>& keep_ratios, const EncoderShape& shape, int reference_length,
                           int min_keep) {
    const std::vector<int> dense(keep_ratios.size(), reference_length);
    return encoder_flops(dense, shape) / encoder_flops(keep_counts(keep_ratios, reference_length, min_keep), shape);
}

Profile profile_for_speedup(const EncoderShape& shape, double speedup, int reference_length, int min_keep,
                            const std::string& name) {
    using detail::format_f;
    using detail::format_g;
    if (!(speedup >= 1.0)) {
        throw ProfileError("speedup " + format_g(speedup) +
                           " is below 1 (elimination cannot slow the model down); ask for >= 1");
    }
    Profile profile;
    profile.name = name.empty() ? "s" + format_g(speedup) : name;
    profile.target_speedup = speedup;
    profile.reference_length = reference_length;
    profile.min_keep = min_keep;
    const double ceiling = max_speedup(shape, reference_length, min_keep);
    double tilt = 0.0;
    if (speedup == 1.0) {
        profile.keep_ratios.assign(static_cast<std::size_t>(shape.num_layers), 1.0);
    } else {
        if (speedup >= ceiling * 0.999) {
            throw ProfileError("speedup " + format_g(speedup) + " is unreachable for a " +
                               std::to_string(shape.num_layers) + "-layer model at length " +
                               std::to_string(reference_length) + " (max " + format_f(ceiling * 0.999, 2) +
                               " with later layers at " + std::to_string(min_keep) + " token); ask for less");
        }
        double lo = 0.0, hi = 1.0 - 1e-12;
        for (int step = 0; step < kBisectionSteps; ++step) {
            const double mid = (lo + hi) / 2;
            if (theoretical_speedup(geometric_ratios(mid, shape.num_layers), shape, reference_length, min_keep) >=
                speedup) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        tilt = hi;
        profile.keep_ratios = geometric_ratios(hi, shape.num_layers);
    }
    profile.tilt = tilt;
    profile.theoretical_speedup = theoretical_speedup(profile.keep_ratios, shape, reference_length, min_keep);
    return profile;
}

}  // namespace acc
