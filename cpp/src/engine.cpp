#include "acc/engine.hpp"

#include <cctype>

#include "acc/errors.hpp"
#include "format.hpp"

namespace acc {
namespace {

const std::string kRebuild = "rebuild it with `acc-export --engine trt` on this device";

/// parse_cc, or the text unchanged when it is not a compute capability (then it simply will not match).
std::string cc_or_text(const std::string& text) {
    try {
        return parse_cc(text);
    } catch (const EngineBuildError&) {
        return text;
    }
}

}  // namespace

std::string parse_cc(const std::string& text) {
    // ^(?:sm_?)?(\d+)(?:\.(\d+))?$, case-insensitive, after stripping whitespace (as Python's parse_cc)
    std::string s = text;
    s.erase(0, s.find_first_not_of(" \t\n\r\f\v"));
    s.erase(s.find_last_not_of(" \t\n\r\f\v") + 1);
    std::size_t at = 0;
    if (s.size() >= 2 && std::tolower(static_cast<unsigned char>(s[0])) == 's' &&
        std::tolower(static_cast<unsigned char>(s[1])) == 'm') {
        at = s.size() > 2 && s[2] == '_' ? 3 : 2;
    }
    auto digits = [&](std::size_t from) {
        std::size_t end = from;
        while (end < s.size() && std::isdigit(static_cast<unsigned char>(s[end]))) ++end;
        return end;
    };
    const std::size_t major_end = digits(at);
    std::string major = s.substr(at, major_end - at), minor;
    bool ok = !major.empty();
    if (ok && major_end < s.size()) {
        const std::size_t minor_end = s[major_end] == '.' ? digits(major_end + 1) : major_end;
        minor = s.substr(major_end + 1, minor_end - major_end - 1);
        ok = s[major_end] == '.' && !minor.empty() && minor_end == s.size();
    }
    if (!ok) {
        throw EngineBuildError("compute capability " + detail::py_repr(text) +
                               " is not like 'sm90' or '9.0'; pass e.g. sm89");
    }
    if (minor.empty()) {
        if (major.size() < 2) {
            throw EngineBuildError("compute capability " + detail::py_repr(text) +
                                   " lacks its minor version; pass e.g. sm89 or 8.9");
        }
        minor = major.substr(major.size() - 1);
        major = major.substr(0, major.size() - 1);
    }
    return "sm" + std::to_string(std::stoi(major)) + std::to_string(std::stoi(minor));
}

std::vector<int> trt_release(const std::string& version) {
    std::vector<int> numbers;  // the first three runs of digits
    for (std::size_t i = 0; i < version.size() && numbers.size() < 3;) {
        if (!std::isdigit(static_cast<unsigned char>(version[i]))) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < version.size() && std::isdigit(static_cast<unsigned char>(version[end]))) ++end;
        numbers.push_back(std::stoi(version.substr(i, end - i)));
        i = end;
    }
    return numbers;
}

void check_engine_compatible(const EngineEntry& record, const std::string& backend, const std::string& trt_version,
                             const std::string& device_cc) {
    if (record.backend != backend) {
        throw EngineMismatchError("engine " + record.file + " was built by " + record.backend +
                                  ", but this runtime has " + backend + "; install " + record.backend + " or " +
                                  kRebuild);
    }
    const std::string built = record.trt_version.value_or("");
    if (built.empty()) {
        throw EngineMismatchError("engine " + record.file + " does not record its TensorRT version; " + kRebuild);
    }
    if (trt_release(built).empty() || trt_release(built) != trt_release(trt_version)) {
        throw EngineMismatchError("engine " + record.file + " was built with " + record.backend + " " + built +
                                  ", this is " + trt_version + " (engines only load in the release that built them); "
                                  "install " + record.backend + " " + built + " or " + kRebuild);
    }
    if (cc_or_text(record.compute_capability) != cc_or_text(device_cc)) {
        throw EngineMismatchError("engine " + record.file + " was built for " + record.compute_capability +
                                  ", this GPU is " + device_cc + "; " + kRebuild);
    }
}

const EngineEntry* find_engine(const Manifest& manifest, const std::string& profile, const std::string& backend,
                               const std::string& device_cc) {
    const EngineEntry* found = nullptr;
    for (const EngineEntry& engine : manifest.engines) {
        if (engine.profile != profile || engine.backend != backend || cc_or_text(engine.compute_capability) != cc_or_text(device_cc)) {
            continue;
        }
        if (found == nullptr || (engine.precision == "fp16" && found->precision != "fp16")) found = &engine;
    }
    return found;
}

}  // namespace acc
