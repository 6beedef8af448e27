// Whether a prebuilt TensorRT engine of the bundle may run here, by the rules of acc.runtime.trt_backend: an engine
// runs only under the TensorRT flavour and release that built it, on a GPU of the compute capability it was built
// for. Deserializing a foreign engine fails deep inside TensorRT with a message naming neither side, so we refuse
// first, in one line that names both and the fix. Pure functions: compiled (and tested) in every build.
#pragma once

#include <string>
#include <vector>

#include "acc/manifest.hpp"

namespace acc {

/// "9.0", "90", "sm_90", "SM90" -> "sm90"; EngineBuildError for anything else.
std::string parse_cc(const std::string& text);

/// "10.3.0.30" -> {10, 3, 0}: the part of a TensorRT version that must match (its build may differ).
std::vector<int> trt_release(const std::string& version);

/// Flavour first (a version compares only within one flavour), then release, then compute capability;
/// EngineMismatchError on the first miss.
void check_engine_compatible(const EngineEntry& record, const std::string& backend, const std::string& trt_version,
                             const std::string& device_cc);

/// The engine of `profile` for this flavour and GPU, fp16 before fp32; nullptr when the bundle has none.
const EngineEntry* find_engine(const Manifest& manifest, const std::string& profile, const std::string& backend,
                               const std::string& device_cc);

}  // namespace acc
