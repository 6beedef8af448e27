// Which profile serves a request: the rules of acc.runtime.policy.choose_profile, as pure functions over the
// manifest's profile list and measured tables (no I/O, no clock), with the same reasons and error messages.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "acc/manifest.hpp"

namespace acc {

inline constexpr double kSpeedupTolerance = 1e-6;

/// What a request asks for; at most one of speedup / (latency_budget_ms and/or min_accuracy).
/// Written with designated initializers: rt.predict(texts, {.speedup = 3}).
struct Request {
    std::optional<double> speedup;            // the shipped profile with this target, else the adjustable graph
    std::optional<double> latency_budget_ms;  // most accurate profile whose interpolated p99 fits
    std::optional<double> min_accuracy;       // fastest profile at least this accurate (fraction in [0, 1])
    bool best_effort = false;                 // when nothing qualifies: the fastest / most accurate instead
    std::optional<std::string> dataset;       // accuracy table to read (default: the one covering most profiles)
};

/// The profile to run and why. adjustable: run the adjustable graph offline-tuned to speedup.
struct Choice {
    std::string profile;
    std::string reason;
    bool adjustable = false;
    std::optional<double> speedup;
    std::optional<double> p99_ms;
    std::optional<double> accuracy;
};

/// Pick a profile for one request of padded shape (batch, seq_len) on backend (rows of device win when present).
Choice choose_profile(const Manifest& manifest, const Request& request, std::int64_t batch = 1,
                      std::int64_t seq_len = 64, const std::string& backend = "ort-cpu",
                      const std::optional<std::string>& device = std::nullopt);

/// (dataset, {profile: accuracy}) from one data set; without dataset the one with rows for the most profiles.
std::pair<std::optional<std::string>, std::map<std::string, double>> accuracy_by_profile(
    const Tables& tables, const std::optional<std::string>& dataset = std::nullopt);

/// p99 of one profile at (batch, seq_len), piecewise linear in seq (per measured batch), then in batch.
double interpolate_p99_ms(const std::vector<LatencyRow>& rows, std::int64_t batch, std::int64_t seq_len);

}  // namespace acc
