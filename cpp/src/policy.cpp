// The profile policy of acc.runtime.policy, rule for rule: the same candidates, the same tie-breaks (first in
// manifest order, as Python's max/min keep the first), the same interpolation, the same reasons and errors.
#include "acc/policy.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "acc/errors.hpp"
#include "format.hpp"

namespace acc {
namespace {

using detail::format_f;
using detail::format_g;
using detail::py_repr;

constexpr const char* kDense = "dense";

Choice make_choice(std::string profile, std::string reason, bool adjustable, std::optional<double> speedup,
                   std::optional<double> p99_ms = std::nullopt, std::optional<double> accuracy = std::nullopt) {
    return Choice{std::move(profile), std::move(reason), adjustable, speedup, p99_ms, accuracy};
}

void check_request(const Request& r, std::int64_t batch, std::int64_t seq_len) {
    if (r.speedup && !(std::isfinite(*r.speedup) && *r.speedup >= 1.0)) {
        throw PolicyError("speedup must be a number >= 1 (1 = dense), got " + py_repr(*r.speedup) +
                          "; pass e.g. speedup=2.0");
    }
    if (r.latency_budget_ms && !(std::isfinite(*r.latency_budget_ms) && *r.latency_budget_ms > 0)) {
        throw PolicyError("latency_budget_ms must be a positive number, got " + py_repr(*r.latency_budget_ms) +
                          "; pass e.g. 20.0");
    }
    if (r.min_accuracy && !(0.0 <= *r.min_accuracy && *r.min_accuracy <= 1.0)) {
        throw PolicyError("min_accuracy is a fraction in [0, 1], got " + py_repr(*r.min_accuracy) +
                          "; pass e.g. min_accuracy=0.9 for 90%");
    }
    if (batch < 1 || seq_len < 1) {
        throw PolicyError("batch and seq_len must be >= 1, got batch=" + std::to_string(batch) +
                          " seq_len=" + std::to_string(seq_len) + "; pass the padded shape");
    }
}

std::string shipped_speedups(const Manifest& m) {
    std::vector<double> speedups;
    for (const ProfileEntry& e : m.profiles) speedups.push_back(e.target_speedup());
    std::stable_sort(speedups.begin(), speedups.end());
    std::string out;
    for (std::size_t i = 0; i < speedups.size(); ++i) out += (i ? ", " : "") + format_g(speedups[i]);
    return out;
}

Choice by_speedup(const Manifest& m, double speedup) {
    for (const ProfileEntry& e : m.profiles) {
        if (std::abs(e.target_speedup() - speedup) <= kSpeedupTolerance) {
            return make_choice(e.name, "shipped profile with target speedup " + format_g(speedup), false, e.target_speedup());
        }
    }
    if (m.adjustable) {
        return make_choice("s" + format_g(speedup),
                "no shipped profile at " + format_g(speedup) + "x; adjustable graph offline-tuned to " +
                    format_g(speedup) + "x",
                true, speedup);
    }
    const std::string shipped = shipped_speedups(m);
    throw PolicyError("no profile with speedup " + format_g(speedup) + " in this bundle (shipped: " +
                      (shipped.empty() ? "none" : shipped) +
                      "; no adjustable graph); pass one of the shipped speedups or re-export with an adjustable graph");
}

Choice by_default(const Manifest& m) {
    for (const ProfileEntry& e : m.profiles) {
        if (e.name == kDense) return make_choice(e.name, "no request constraint; dense profile", false, e.target_speedup());
    }
    if (!m.profiles.empty()) {
        const ProfileEntry* low = &m.profiles[0];
        for (const ProfileEntry& e : m.profiles) {
            if (e.target_speedup() < low->target_speedup()) low = &e;
        }
        return make_choice(low->name, "no request constraint and no 'dense' profile; lowest speedup", false,
                low->target_speedup());
    }
    return make_choice("s1", "no request constraint; adjustable graph at 1x (dense)", true, 1.0);
}

/// Python's max(items, key): the first item with the largest key.
template <typename T, typename Key>
const T* first_max(const std::vector<const T*>& items, Key key) {
    const T* best = nullptr;
    for (const T* item : items) {
        if (best == nullptr || key(*best) < key(*item)) best = item;
    }
    return best;
}

/// Python's min(items, key): the first item with the smallest key.
template <typename T, typename Key>
const T* first_min(const std::vector<const T*>& items, Key key) {
    const T* best = nullptr;
    for (const T* item : items) {
        if (best == nullptr || key(*item) < key(*best)) best = item;
    }
    return best;
}

Choice by_accuracy(const Manifest& m, double floor, const std::optional<std::string>& wanted, bool best_effort) {
    const auto [dataset, accuracy] = accuracy_by_profile(m.tables, wanted);
    std::vector<const ProfileEntry*> scored, qualified;
    for (const ProfileEntry& e : m.profiles) {
        if (!accuracy.count(e.name)) continue;
        scored.push_back(&e);
        if (accuracy.at(e.name) >= floor) qualified.push_back(&e);
    }
    if (scored.empty()) {
        throw PolicyError("bundle has no accuracy rows" + (dataset ? " for data set " + py_repr(*dataset) : "") +
                          "; ask with speedup= or latency_budget_ms=, or re-export with evaluation");
    }
    const std::string on = dataset.value_or("None");
    auto acc = [&](const ProfileEntry& e) { return accuracy.at(e.name); };
    if (!qualified.empty()) {
        const ProfileEntry* e =
            first_max(qualified, [&](const ProfileEntry& x) { return std::make_tuple(x.target_speedup(), acc(x)); });
        return make_choice(e->name, "fastest profile with accuracy " + format_f(acc(*e), 4) + " >= " + format_g(floor) + " on " + on,
                false, e->target_speedup(), std::nullopt, acc(*e));
    }
    const ProfileEntry* best =
        first_max(scored, [&](const ProfileEntry& x) { return std::make_tuple(acc(x), -x.target_speedup()); });
    if (best_effort) {
        return make_choice(best->name,
                "best effort: no profile reaches accuracy " + format_g(floor) + " on " + on + "; most accurate is " +
                    format_f(acc(*best), 4),
                false, best->target_speedup(), std::nullopt, acc(*best));
    }
    throw PolicyError("no profile reaches accuracy " + format_g(floor) + " on " + on + " (best: " + best->name + " at " +
                      format_f(acc(*best), 4) + "); lower min_accuracy or pass best_effort=True");
}

/// Piecewise-linear y(x) through points sorted by x (duplicates of x are averaged).
double interp(const std::vector<std::pair<double, double>>& points, double x) {
    std::vector<double> xs, ys;
    std::vector<int> counts;
    for (const auto& [px, py] : points) {  // points arrive sorted by (x, y); merge equal x in order
        if (!xs.empty() && xs.back() == px) {
            ys.back() += py;
            ++counts.back();
        } else {
            xs.push_back(px);
            ys.push_back(py);
            counts.push_back(1);
        }
    }
    for (std::size_t i = 0; i < ys.size(); ++i) ys[i] /= counts[i];
    if (x <= xs[0]) return ys[0];
    if (xs.size() == 1) return ys[0] * x / xs[0];
    const std::size_t last = xs.size() - 1;
    if (x >= xs[last]) {
        const double slope = (ys[last] - ys[last - 1]) / (xs[last] - xs[last - 1]);
        return ys[last] + std::max(slope, 0.0) * (x - xs[last]);
    }
    for (std::size_t i = 0; i + 1 < xs.size(); ++i) {
        if (xs[i] <= x && x <= xs[i + 1]) return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i]);
    }
    throw PolicyError("cannot interpolate latency at " + format_g(x) + "; report this as a bug");
}

Choice by_latency(const Manifest& m, double budget, const std::optional<double>& floor, std::int64_t batch,
                  std::int64_t seq_len, const std::string& backend, const std::optional<std::string>& device,
                  const std::optional<std::string>& wanted, bool best_effort) {
    // Rows of one (backend, device): the requested device if it has rows, else the first device listed.
    std::vector<std::string> devices;
    for (const LatencyRow& row : m.tables.latency) {
        if (row.backend == backend && std::find(devices.begin(), devices.end(), row.device) == devices.end()) {
            devices.push_back(row.device);
        }
    }
    std::optional<std::string> chosen;
    if (!devices.empty()) {
        chosen = device && std::find(devices.begin(), devices.end(), *device) != devices.end() ? *device : devices[0];
    }
    const auto [dataset, accuracy] = accuracy_by_profile(m.tables, wanted);
    const std::string shape = "batch " + std::to_string(batch) + ", seq " + std::to_string(seq_len) + " on " + backend +
                              "/" + chosen.value_or("None");
    std::map<std::string, double> estimates;
    std::vector<const ProfileEntry*> timed;
    for (const ProfileEntry& e : m.profiles) {
        std::vector<LatencyRow> mine;
        for (const LatencyRow& row : m.tables.latency) {
            if (chosen && row.backend == backend && row.device == *chosen && row.profile == e.name) mine.push_back(row);
        }
        if (mine.empty()) continue;
        estimates[e.name] = interpolate_p99_ms(mine, batch, seq_len);
        timed.push_back(&e);
    }
    if (timed.empty()) {
        throw PolicyError("bundle has no latency rows for backend " + py_repr(backend) +
                          "; calibrate it on this machine (acc-calibrate BUNDLE) or ask with speedup= / "
                          "min_accuracy=");
    }
    auto acc = [&](const ProfileEntry& e) {
        const auto found = accuracy.find(e.name);
        return found == accuracy.end() ? -1.0 : found->second;
    };
    auto known_acc = [&](const ProfileEntry& e) -> std::optional<double> {
        const auto found = accuracy.find(e.name);
        return found == accuracy.end() ? std::nullopt : std::optional<double>(found->second);
    };
    std::vector<const ProfileEntry*> candidates;
    for (const ProfileEntry* e : timed) {
        if (!floor || acc(*e) >= *floor) candidates.push_back(e);
    }
    std::string prefix;
    if (candidates.empty()) {
        if (!best_effort) {
            throw PolicyError("no profile with latency rows reaches accuracy " + format_g(*floor) +
                              "; lower min_accuracy or pass best_effort=True");
        }
        candidates = timed;
        prefix = "best effort: no profile reaches accuracy " + format_g(*floor) + "; ";
    }
    std::vector<const ProfileEntry*> fits;
    for (const ProfileEntry* e : candidates) {
        if (estimates.at(e->name) <= budget) fits.push_back(e);
    }
    if (!fits.empty()) {
        // Most accurate first; unknown accuracy ranks after known, then less elimination, then faster.
        const ProfileEntry* e = first_min(fits, [&](const ProfileEntry& x) {
            return std::make_tuple(-acc(x), x.target_speedup(), estimates.at(x.name));
        });
        const double p99 = estimates.at(e->name);
        return make_choice(e->name,
                prefix + "most accurate profile whose p99 ≈ " + format_g(p99, 3) + " ms fits " + format_g(budget) +
                    " ms at " + shape,
                false, e->target_speedup(), p99, known_acc(*e));
    }
    const ProfileEntry* fastest = first_min(candidates, [&](const ProfileEntry& x) { return estimates.at(x.name); });
    const double p99 = estimates.at(fastest->name);
    if (best_effort) {
        return make_choice(fastest->name,
                "best effort: nothing fits " + format_g(budget) + " ms at " + shape + "; fastest p99 ≈ " +
                    format_g(p99, 3) + " ms",
                false, fastest->target_speedup(), p99, known_acc(*fastest));
    }
    throw PolicyError("no profile fits latency budget " + format_g(budget) + " ms at " + shape + " (fastest: " +
                      fastest->name + " at p99 ≈ " + format_g(p99, 3) +
                      " ms); raise the budget or pass best_effort=True");
}

}  // namespace

std::pair<std::optional<std::string>, std::map<std::string, double>> accuracy_by_profile(
    const Tables& tables, const std::optional<std::string>& dataset) {
    std::optional<std::string> chosen = dataset;
    if (!chosen) {
        std::vector<std::pair<std::string, std::vector<std::string>>> coverage;  // first-seen order, as a dict
        for (const AccuracyRow& row : tables.accuracy) {
            auto found = std::find_if(coverage.begin(), coverage.end(), [&](const auto& c) { return c.first == row.dataset; });
            if (found == coverage.end()) {
                coverage.push_back({row.dataset, {}});
                found = coverage.end() - 1;
            }
            if (std::find(found->second.begin(), found->second.end(), row.profile) == found->second.end()) {
                found->second.push_back(row.profile);
            }
        }
        if (coverage.empty()) return {std::nullopt, {}};
        std::size_t best = 0;
        for (std::size_t i = 1; i < coverage.size(); ++i) {
            if (coverage[i].second.size() > coverage[best].second.size()) best = i;
        }
        chosen = coverage[best].first;
    }
    std::map<std::string, double> accuracy;
    for (const AccuracyRow& row : tables.accuracy) {
        if (row.dataset == *chosen) accuracy[row.profile] = row.accuracy;
    }
    return {chosen, accuracy};
}

double interpolate_p99_ms(const std::vector<LatencyRow>& rows, std::int64_t batch, std::int64_t seq_len) {
    if (rows.empty()) {
        throw PolicyError("no latency rows to interpolate from; calibrate the bundle on this backend first");
    }
    std::map<std::int64_t, std::vector<std::pair<double, double>>> by_batch;
    for (const LatencyRow& row : rows) by_batch[row.batch].push_back({double(row.seq), row.p99_ms});
    std::vector<std::pair<double, double>> per_batch;
    for (auto& [b, points] : by_batch) {
        std::sort(points.begin(), points.end());
        per_batch.push_back({double(b), interp(points, double(seq_len))});
    }
    return interp(per_batch, double(batch));
}

Choice choose_profile(const Manifest& manifest, const Request& request, std::int64_t batch, std::int64_t seq_len,
                      const std::string& backend, const std::optional<std::string>& device) {
    check_request(request, batch, seq_len);
    if (request.speedup) {
        if (request.latency_budget_ms || request.min_accuracy) {
            throw PolicyError(
                "speedup= fixes the profile and cannot be combined with latency_budget_ms= or min_accuracy=; pass one");
        }
        return by_speedup(manifest, *request.speedup);
    }
    if (request.latency_budget_ms) {
        return by_latency(manifest, *request.latency_budget_ms, request.min_accuracy, batch, seq_len, backend, device,
                          request.dataset, request.best_effort);
    }
    if (request.min_accuracy) return by_accuracy(manifest, *request.min_accuracy, request.dataset, request.best_effort);
    return by_default(manifest);
}

}  // namespace acc
