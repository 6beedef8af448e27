#!/usr/bin/env python3
"""Generate ``cpp/src/unicode_data.inc``: the per-character tables of the C++ WordPiece tokenizer.

Why the tables come from the Hugging Face ``tokenizers`` library itself and not from a Unicode database: the C++
tokenizer must give the ids the Python runtime gets, and ``tokenizers`` answers "is this a control character, a
space, punctuation, a CJK ideograph; what are its lowercase and accent-stripped forms" with its own Rust Unicode
tables (not Python's ``unicodedata``). So every code point is asked of the real normalizer and pre-tokenizer, one
operation at a time, and the answers are written as ranges and mappings:

- flags per code point (run-length ranges): removed by clean_text, turned into a space by clean_text, CJK
  ideograph (padded with spaces), whitespace / punctuation for the pre-tokenizer, removed by strip_accents;
- mappings where strip_accents (NFD, then drop nonspacing marks) or lowercase change a character. Hangul
  syllables decompose by formula in C++ (11,172 entries otherwise); the formula is checked here.

Every operation of BertNormalizer except strip_accents is per character in ``tokenizers``; strip_accents is a
whole-string NFD whose only cross-character effect (canonical reordering of combining marks that survive the
stripping) is ignored. Run: ``python cpp/scripts/gen_unicode_tables.py`` (about 10 s); commit the output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import tokenizers
from tokenizers import normalizers, pre_tokenizers

OUT = Path(__file__).resolve().parents[1] / "src" / "unicode_data.inc"
MAX_CODE = 0x110000
SURROGATES = range(0xD800, 0xE000)

CLEAN_REMOVE, CLEAN_SPACE, CJK, SPLIT_SPACE, SPLIT_PUNCT, ACCENT_REMOVE = 1, 2, 4, 8, 16, 32
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def hangul_nfd(code: int) -> str:
    """The Unicode formula for decomposing a precomposed Hangul syllable (mirrored in unicode.cpp)."""
    index = code - HANGUL_FIRST
    lead, vowel, trail = 0x1100 + index // 588, 0x1161 + (index % 588) // 28, 0x11A7 + index % 28
    return chr(lead) + chr(vowel) + (chr(trail) if trail != 0x11A7 else "")


def bert(clean: bool = False, chinese: bool = False, strip: bool = False, lower: bool = False):
    return normalizers.BertNormalizer(clean_text=clean, handle_chinese_chars=chinese, strip_accents=strip,
                                      lowercase=lower)  # fmt: skip


def classify() -> tuple[list[int], dict[int, str], dict[int, str]]:
    clean, chinese, strip, lower = bert(clean=True), bert(chinese=True), bert(strip=True), bert(lower=True)
    split = pre_tokenizers.BertPreTokenizer()
    flags = [0] * MAX_CODE
    strip_map: dict[int, str] = {}
    lower_map: dict[int, str] = {}
    for code in range(MAX_CODE):
        if code in SURROGATES:
            flags[code] = CLEAN_REMOVE  # never produced by UTF-8 decoding; C++ rejects them as invalid UTF-8
            continue
        char = chr(code)
        cleaned = clean.normalize_str(char)
        if cleaned == "":
            flags[code] |= CLEAN_REMOVE
        elif cleaned == " " and char != " ":
            flags[code] |= CLEAN_SPACE
        elif cleaned != char:
            raise SystemExit(f"clean_text maps U+{code:04X} to {cleaned!r}; the generator assumes keep/drop/space")
        padded = chinese.normalize_str(char)
        if padded == f" {char} ":
            flags[code] |= CJK
        elif padded != char:
            raise SystemExit(f"handle_chinese_chars maps U+{code:04X} to {padded!r}")
        pieces = [piece for piece, _ in split.pre_tokenize_str(f"a{char}b")]
        if pieces == ["a", "b"]:
            flags[code] |= SPLIT_SPACE
        elif pieces == ["a", char, "b"]:
            flags[code] |= SPLIT_PUNCT
        elif pieces != [f"a{char}b"]:
            raise SystemExit(f"pre-tokenizer splits 'aU+{code:04X}b' into {pieces!r}")
        stripped = strip.normalize_str(char)
        if stripped == "":
            flags[code] |= ACCENT_REMOVE
        elif HANGUL_FIRST <= code <= HANGUL_LAST:
            if stripped != hangul_nfd(code):
                raise SystemExit(f"Hangul U+{code:04X} decomposes to {stripped!r}, not by the formula")
        elif stripped != char:
            strip_map[code] = stripped
        lowered = lower.normalize_str(char)
        if lowered != char:
            lower_map[code] = lowered
    return flags, strip_map, lower_map


def ranges(flags: list[int]) -> list[tuple[int, int]]:
    runs = [(0, flags[0])]
    for code in range(1, MAX_CODE):
        if flags[code] != runs[-1][1]:
            runs.append((code, flags[code]))
    return runs


def mapping_table(name: str, mapping: dict[int, str], pool: list[int]) -> list[str]:
    lines = [f"constexpr Mapping {name}[] = {{"]
    row: list[str] = []
    for code in sorted(mapping):
        target = [ord(c) for c in mapping[code]]
        row.append(f"{{0x{code:X},{len(pool)},{len(target)}}}")
        pool.extend(target)
        if len(row) == 6:
            lines.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        lines.append("    " + ", ".join(row) + ",")
    lines.append("};")
    return lines


def render(flags: list[int], strip_map: dict[int, str], lower_map: dict[int, str]) -> str:
    runs = ranges(flags)
    pool: list[int] = []
    out = [
        f"// Generated by cpp/scripts/gen_unicode_tables.py from tokenizers {tokenizers.__version__}; do not edit.",
        f"// {len(runs)} flag ranges, {len(strip_map)} strip_accents and {len(lower_map)} lowercase mappings.",
        "// Included by unicode.cpp only (types Range and Mapping are defined there).",
        "",
        "constexpr Range kRanges[] = {",
    ]
    for start in range(0, len(runs), 8):
        out.append("    " + ", ".join(f"{{0x{code:X},{flag}}}" for code, flag in runs[start : start + 8]) + ",")
    out.append("};")
    out.append("")
    out += mapping_table("kStrip", strip_map, pool)
    out.append("")
    out += mapping_table("kLower", lower_map, pool)
    out.append("")
    out.append("constexpr char32_t kPool[] = {")
    for start in range(0, len(pool), 12):
        out.append("    " + ", ".join(f"0x{code:X}" for code in pool[start : start + 12]) + ",")
    out.append("};")
    return "\n".join(out) + "\n"


def main() -> int:
    flags, strip_map, lower_map = classify()
    text = render(flags, strip_map, lower_map)
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
