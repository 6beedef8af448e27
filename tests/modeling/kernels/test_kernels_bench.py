"""The device benchmark's smoke mode (CPU, Triton interpreter) and its renderer, so the GPU script cannot rot here."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load(path: Path, name: str):  # noqa: ANN202 - a module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_writes_json_that_renders(tmp_path: Path, triton_cpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks" / "device"))  # kernels_bench imports its sibling module
    bench = _load(ROOT / "benchmarks" / "device" / "kernels_bench.py", "kernels_bench_under_test")
    out = tmp_path / "kernels.json"
    assert bench.main(["--smoke", "--parts", "env,correctness,nonexistent", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["correctness"]["passed"] is True, data["correctness"]
    assert all(check["failures"] == [] for check in data["correctness"]["kernel_checks"])
    assert "error" in data["nonexistent"]  # an unknown part is recorded, the run goes on
    render = _load(ROOT / "benchmarks" / "kernels" / "render_kernels.py", "render_kernels_under_test")
    assert render.main([str(out), "--results-dir", str(tmp_path / "results"), "--prefix", "smoke"]) == 0
    markdown = next((tmp_path / "results").glob("smoke-*.md")).read_text()
    assert (
        "Kernels vs PyTorch references" in markdown and "| kernel vs reference checks pass | True | yes |" in markdown
    )
    sys.modules.pop("kernels_parts", None)
