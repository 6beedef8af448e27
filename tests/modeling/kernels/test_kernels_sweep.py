"""The device sweep's smoke mode (CPU, Triton interpreter): old and new kernels agree, the JSON and Markdown appear."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_sweep_smoke_checks_new_kernels_against_old(tmp_path: Path, triton_cpu: None) -> None:
    spec = importlib.util.spec_from_file_location(
        "kernels_sweep_under_test", ROOT / "benchmarks/device/kernels_sweep.py"
    )
    sweep = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sweep)
    try:
        assert sweep.main(["--smoke", "--out", str(tmp_path), "--cells", "2x24"]) == 0
    finally:
        sys.modules.pop("kernels_legacy", None)
    data = json.loads((tmp_path / "kernels_sweep.json").read_text())
    (cell,) = data["cells"]
    assert cell["old_select_is_select_ranked"]  # the old kernel's tie order is the one select_ranked writes down
    kinds = {(row["kernel"], row["config"].split()[0]) for row in cell["rows"]}
    assert {("column_sums", "old"), ("column_sums", "default"), ("select", "old"), ("select", "default")} <= kinds
    assert any(row["config"].startswith("split") for row in cell["rows"])  # both selection launches ran
    assert all(row["ok"] for row in cell["rows"]), cell["rows"]
    assert "| 2x24 | select |" in (tmp_path / "kernels_sweep.md").read_text()
