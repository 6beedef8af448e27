// The value rules of manifest.json both readers apply (acc.runtime.manifest_rules is the Python side): nesting
// depth, no duplicate keys, model-card ranges, file rows. Both are run against tests/fixtures/manifest_rules.json,
// so a rule changed here only fails a test until the Python side agrees. Internal to the library.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace acc::detail {

inline constexpr int kMaxJsonDepth = 32;  // a real manifest nests 5 deep

struct IntRange {
    const char* key;
    long long low;
    long long high;
};

/// Inclusive ranges of the model card's integers (same table, same order as MODEL_INT_RANGES in Python).
inline constexpr std::array<IntRange, 5> kModelIntRanges = {{
    {"num_layers", 1, 1024},
    {"hidden_size", 1, 65536},
    {"num_heads", 1, 1024},
    {"intermediate_size", 1, 1LL << 20},
    {"max_length", 1, 1LL << 20},
}};

/// Deepest nesting of [ / { in JSON text, counted without parsing (string contents skipped).
inline int json_depth(std::string_view text) {
    int depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (const char c : text) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

/// 64 lower-case hex digits.
inline bool is_sha256_hex(const std::string& text) {
    if (text.size() != 64) return false;
    for (const char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

}  // namespace acc::detail
