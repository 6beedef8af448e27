"""The value rules of ``manifest.json`` that both readers apply: strict JSON, nesting depth, model-card ranges.

Why a module of its own: the Python reader (``acc.runtime.manifest``) and the C++ reader (``cpp/src/manifest.cpp``)
must accept and refuse the same manifests. The numbers live here and in ``cpp/src/manifest_rules.hpp`` and both
are run against the same cases (``tests/fixtures/manifest_rules.json``: a mutation of a real manifest and the words
its error must contain), so a rule changed on one side only fails a test.
"""

from __future__ import annotations

import json
from typing import Any

from acc.profiles import BundleError

REEXPORT = "re-export the bundle with acc-export"
MAX_DEPTH = 32  # a real manifest nests 5 deep; deeper is an attack on recursive parsers (and their stacks)
# Inclusive ranges of the model card's integers. 0 or negative would divide by zero, allocate negative shapes or
# silently disable truncation; the upper bounds are far above any encoder and keep products inside int64.
MODEL_INT_RANGES: dict[str, tuple[int, int]] = {
    "num_layers": (1, 1024),
    "hidden_size": (1, 65536),
    "num_heads": (1, 1024),
    "intermediate_size": (1, 1 << 20),
    "max_length": (1, 1 << 20),
}


def parse_strict(raw: bytes, where: str) -> Any:
    """JSON from ``raw``: UTF-8, at most ``MAX_DEPTH`` deep, no key twice in one object (the last would win
    silently, so a second ``"labels"`` could invert every answer), no NaN/Infinity."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"{where} is not UTF-8 ({exc.reason} at byte {exc.start}); {REEXPORT}") from None
    depth = json_depth(text)
    if depth > MAX_DEPTH:
        raise BundleError(f"{where} nests {depth} levels deep, more than the {MAX_DEPTH} allowed; {REEXPORT}")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys(where), parse_constant=_no_constant(where))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{where} is not valid JSON ({exc}); {REEXPORT}") from None


def json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text, counted without parsing (string contents are skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unique_keys(where: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise BundleError(f"{where} has key {key!r} twice in one object (which one counts is ambiguous); "
                                  f"{REEXPORT}")  # fmt: skip
            result[key] = value
        return result

    return hook


def _no_constant(where: str) -> Any:
    def hook(name: str) -> Any:
        raise BundleError(f"{where} holds {name}, which is not JSON; {REEXPORT}")

    return hook


def check_model_card(card: Any, where: str) -> None:
    """The model card's integers in ``MODEL_INT_RANGES`` and heads dividing the width. (Labels are the classifier
    runtime's concern: causal-LM bundles have none.)"""
    for key, (low, high) in MODEL_INT_RANGES.items():
        value = getattr(card, key)
        if not low <= value <= high:
            raise BundleError(f"{where}.{key} = {value} is outside [{low}, {high}]; {REEXPORT}")
    if card.hidden_size % card.num_heads:
        raise BundleError(f"{where}.hidden_size = {card.hidden_size} is not a multiple of num_heads = "
                          f"{card.num_heads}; {REEXPORT}")  # fmt: skip
