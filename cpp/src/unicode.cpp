#include "unicode.hpp"

#include <algorithm>

namespace acc::detail {
namespace {

struct Range {
    char32_t first;  // flags hold from here up to the next range's first
    std::uint8_t flags;
};

struct Mapping {
    char32_t code;
    std::uint16_t offset;  // into kPool
    std::uint8_t length;
};

#include "unicode_data.inc"

constexpr char32_t kHangulFirst = 0xAC00, kHangulLast = 0xD7A3;

template <std::size_t N>
const Mapping* find_mapping(const Mapping (&table)[N], char32_t c) {
    const Mapping* end = table + N;
    const Mapping* found = std::lower_bound(table, end, c, [](const Mapping& m, char32_t x) { return m.code < x; });
    return found != end && found->code == c ? found : nullptr;
}

void append_mapped(const Mapping* mapping, char32_t c, std::u32string& out) {
    if (mapping == nullptr) {
        out += c;
    } else {
        out.append(kPool + mapping->offset, mapping->length);
    }
}

}  // namespace

std::uint8_t char_flags(char32_t c) {
    const Range* end = kRanges + sizeof kRanges / sizeof kRanges[0];
    const Range* next = std::upper_bound(kRanges, end, c, [](char32_t x, const Range& r) { return x < r.first; });
    return next == kRanges ? 0 : (next - 1)->flags;
}

void append_stripped(char32_t c, std::u32string& out) {
    if (c < 0x80) {
        out += c;
    } else if (c >= kHangulFirst && c <= kHangulLast) {  // the Unicode formula for Hangul syllables
        const char32_t index = c - kHangulFirst;
        out += char32_t(0x1100 + index / 588);
        out += char32_t(0x1161 + (index % 588) / 28);
        if (index % 28 != 0) out += char32_t(0x11A7 + index % 28);
    } else if (!(char_flags(c) & kAccentRemove)) {
        append_mapped(find_mapping(kStrip, c), c, out);
    }
}

void append_lowered(char32_t c, std::u32string& out) {
    if (c < 0x80) {
        out += (c >= 'A' && c <= 'Z') ? char32_t(c + 32) : c;
    } else {
        append_mapped(find_mapping(kLower, c), c, out);
    }
}

std::optional<std::u32string> decode_utf8(std::string_view text, std::size_t* error_offset) {
    std::u32string out;
    out.reserve(text.size());
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    for (std::size_t i = 0; i < n;) {
        const unsigned char lead = bytes[i];
        std::size_t length;
        char32_t c, min;
        if (lead < 0x80) {
            out += char32_t(lead);
            ++i;
            continue;
        } else if ((lead & 0xE0) == 0xC0) {
            length = 2, c = lead & 0x1F, min = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            length = 3, c = lead & 0x0F, min = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            length = 4, c = lead & 0x07, min = 0x10000;
        } else {
            if (error_offset) *error_offset = i;
            return std::nullopt;
        }
        bool ok = i + length <= n;
        for (std::size_t k = 1; ok && k < length; ++k) {
            ok = (bytes[i + k] & 0xC0) == 0x80;
            c = (c << 6) | (bytes[i + k] & 0x3F);
        }
        if (!ok || c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            if (error_offset) *error_offset = i;
            return std::nullopt;
        }
        out += c;
        i += length;
    }
    return out;
}

std::string encode_utf8(std::u32string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char32_t c : text) {
        if (c < 0x80) {
            out += char(c);
        } else if (c < 0x800) {
            out += char(0xC0 | (c >> 6));
            out += char(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out += char(0xE0 | (c >> 12));
            out += char(0x80 | ((c >> 6) & 0x3F));
            out += char(0x80 | (c & 0x3F));
        } else {
            out += char(0xF0 | (c >> 18));
            out += char(0x80 | ((c >> 12) & 0x3F));
            out += char(0x80 | ((c >> 6) & 0x3F));
            out += char(0x80 | (c & 0x3F));
        }
    }
    return out;
}

}  // namespace acc::detail
