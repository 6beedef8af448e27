"""The shared manifest value rules (``tests/fixtures/manifest_rules.json``) against the Python reader.

The C++ reader runs the same cases in ``tests/cpp/test_cpp.py``; issue #20 items 10 and 11 (``max_length`` 0 was
accepted here and refused there, -5 crashed here and ran there, a nested manifest was a RecursionError).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from manifest_mutations import apply_case, rule_cases

from acc.profiles import BundleError
from acc.runtime import read_manifest


@pytest.mark.parametrize("case", rule_cases(), ids=lambda case: case["name"])
def test_manifest_rule(case: dict[str, Any], tiny_export_bundle: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    apply_case(bundle, case)
    if case["error"] is None:
        read_manifest(bundle)
        return
    with pytest.raises(BundleError) as exc:
        read_manifest(bundle)
    message = str(exc.value)
    assert case["error"] in message
    assert "\n" not in message and "acc-export" in message


def test_a_manifest_nested_thousands_deep_is_one_line(tiny_export_bundle: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    apply_case(bundle, {"op": "nest", "path": ["validation", "deep"], "depth": 100_000})
    with pytest.raises(BundleError, match="nests 100002 levels deep"):
        read_manifest(bundle)
