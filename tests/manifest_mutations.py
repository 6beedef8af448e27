"""Apply one case of ``tests/fixtures/manifest_rules.json`` to a bundle's ``manifest.json`` (Python and C++ tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RULE_CASES = Path(__file__).parent / "fixtures" / "manifest_rules.json"


def rule_cases() -> list[dict[str, Any]]:
    return json.loads(RULE_CASES.read_text())["cases"]


def apply_case(bundle: Path, case: dict[str, Any]) -> None:
    """Rewrite ``bundle/manifest.json`` as ``case`` says (set a value, nest a list, repeat a key, edit a file row)."""
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    op = case["op"]
    if op == "set":
        *parents, last = case["path"]
        _walk(data, parents)[last] = case["value"]
    elif op == "nest":  # written as text: json.dumps itself recurses
        *parents, last = case["path"]
        _walk(data, parents)[last] = "@NEST@"
        depth = case["depth"]
        path.write_text(json.dumps(data, indent=2).replace('"@NEST@"', "[" * depth + "1" + "]" * depth))
        return
    elif op == "set_file":
        first = min(data["files"])
        data["files"][first][case["field"]] = case["value"]
    elif op == "duplicate_key":
        text = json.dumps(data, indent=2)
        key = case["key"]
        path.write_text("{\n  " + json.dumps(key) + ": " + json.dumps(data[key]) + "," + text[1:])
        return
    else:
        raise ValueError(f"unknown op {op!r} in {RULE_CASES}")
    path.write_text(json.dumps(data, indent=2))


def _walk(data: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    for key in keys:
        data = data.setdefault(key, {})
    return data
