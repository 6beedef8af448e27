// Per-character Unicode answers of the Hugging Face BERT normalizer and pre-tokenizer (tables generated from
// `tokenizers` by cpp/scripts/gen_unicode_tables.py), plus strict UTF-8 decoding. Internal to the library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace acc::detail {

enum CharFlag : std::uint8_t {
    kCleanRemove = 1,    // clean_text drops it (control / format / NUL / U+FFFD)
    kCleanSpace = 2,     // clean_text turns it into ' '
    kCjk = 4,            // handle_chinese_chars surrounds it with spaces
    kSplitSpace = 8,     // BertPreTokenizer: whitespace (split, dropped)
    kSplitPunct = 16,    // BertPreTokenizer: punctuation (split, kept as its own word)
    kAccentRemove = 32,  // strip_accents drops it (a nonspacing mark)
};

std::uint8_t char_flags(char32_t c);
/// strip_accents of one character: its NFD without nonspacing marks (possibly empty).
void append_stripped(char32_t c, std::u32string& out);
/// lowercase of one character (possibly several characters, e.g. U+0130).
void append_lowered(char32_t c, std::u32string& out);

/// Strict UTF-8 → code points; std::nullopt and the byte offset of the first invalid sequence on failure.
std::optional<std::u32string> decode_utf8(std::string_view text, std::size_t* error_offset = nullptr);
std::string encode_utf8(std::u32string_view text);

}  // namespace acc::detail
