"""benchmarks/edge: the aarch64 answer check, the memory probe, the MPS table and the JetPack recipe's guards.

The emulated runs themselves (qemu, debootstrap) are in tests/cpp/test_aarch64.py and docs/jetson.md; here the
host-side logic runs on the session's real tiny bundle.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

EDGE = Path(__file__).resolve().parents[2] / "benchmarks" / "edge"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"acc_edge_{name}", EDGE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture(scope="module")
def predict_check() -> ModuleType:
    return _load("predict_check")


def test_same_interpreter_gives_the_same_answers(
    predict_check: ModuleType, tiny_export_bundle: Path, tmp_path: Path
) -> None:
    first, second = predict_check.run(tiny_export_bundle), predict_check.run(tiny_export_bundle)
    assert set(first["predictions"]) == {"dense", "s1.5"}
    result = predict_check.compare(first, second)
    assert result["passed"] and result["max_prob_diff"] == 0.0
    (tmp_path / "a.json").write_text(json.dumps(first))
    (tmp_path / "b.json").write_text(json.dumps(second))
    assert (
        predict_check.main(
            ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "r")]
        )
        == 0
    )
    assert "same answers" in (tmp_path / "r.md").read_text()


def test_a_flipped_label_or_drifted_probability_fails(predict_check: ModuleType, tiny_export_bundle: Path) -> None:
    reference = predict_check.run(tiny_export_bundle)
    flipped = json.loads(json.dumps(reference))
    row = flipped["predictions"]["s1.5"]
    row["labels"][0] = "negative" if row["labels"][0] == "positive" else "positive"
    assert not predict_check.compare(reference, flipped)["passed"]
    drifted = json.loads(json.dumps(reference))
    drifted["predictions"]["dense"]["probabilities"][1][0] += 10 * predict_check.PROB_TOLERANCE
    result = predict_check.compare(reference, drifted)
    assert not result["passed"] and result["max_prob_diff"] == pytest.approx(10 * predict_check.PROB_TOLERANCE)


def test_run_refuses_a_directory_without_manifest(
    predict_check: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert predict_check.main(["run", str(tmp_path), "--out", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path} has no manifest.json; pass a bundle written by acc-export\n"


def test_memory_probe_measures_every_profile(tiny_export_bundle: Path, tmp_path: Path) -> None:
    memory = _load("memory")
    result = memory.measure(tiny_export_bundle)
    assert [row["profile"] for row in result["profiles"]] == ["dense", "s1.5"]
    for row in result["profiles"]:
        assert row["session_mb"] > 0 and row["runtime_mb"] > 10  # onnxruntime itself is tens of MB
        assert set(row["arena_mb"]) == set(result["cells"])
    assert result["bundle_mb"] >= result["weights_mb"] > 0


def test_mps_table_reports_speedups_and_what_is_not_modelled() -> None:
    mps_sim = _load("mps_sim")
    rows = [{"candidate": "dense", "batch": 1, "seq": 64, "p50_ms": 2.0, "speedup_vs_dense": 1.0},
            {"candidate": "fused@s3", "batch": 1, "seq": 64, "p50_ms": 1.0, "speedup_vs_dense": 2.0, "theoretical_speedup": 3.0},
            {"candidate": "fused@s4.8", "batch": 1, "seq": 64, "error": "OutOfMemoryError: x"}]  # fmt: skip
    run = {"label": "mps12", "env": {"gpu": "H100", "sm_count": 14, "mps_thread_percentage": "12"},
           "latency": {"rows": rows, "profiles": [{"name": "s3"}, {"name": "s4.8"}], "skipped_cells": ["4x256"]}}  # fmt: skip
    markdown, summary = mps_sim.table([run])
    assert "| 1x64 | 2.000 | 2.00x (3.00) | – |" in markdown
    assert "14 SMs (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=12)" in markdown
    assert "fused@s4.8 b1 s64: OutOfMemoryError" in markdown and "Not timed (time budget): 4x256" in markdown
    assert "memory bandwidth" in markdown and "unified memory" in markdown and "clocks" in summary["not_modelled"]
    assert summary["runs"][0]["cells"] == [{"batch": 1, "seq": 64, "dense_p50_ms": 2.0, "s3": 2.0, "s4.8": None}]


def test_jetpack_recipe_stops_with_one_line_without_a_bundle(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(EDGE / "jetpack.sh"), str(tmp_path / "none")], check=False, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: bundle {tmp_path / 'none'} has no manifest.json; copy bundles/bert-sst2")


def test_jetpack_check_refuses_cells_outside_the_engine_range(
    tiny_export_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jetpack_check = _load("jetpack_check")
    code = jetpack_check.main(
        [str(tiny_export_bundle), "--out", str(tmp_path), "--engine-seq", "16,64,128", "--cells", "1x256"]
    )
    assert code == 2
    assert "cells [(1, 256)] are outside --engine-batch 1,4,8 / --engine-seq 16,64,128" in capsys.readouterr().err


def test_pad_to_masks_the_padding(tiny_export_bundle: Path) -> None:
    import numpy as np

    jetpack_check = _load("jetpack_check")
    feeds = {"input_ids": np.array([[101, 7, 102]]), "attention_mask": np.ones((1, 3), np.int64),
             "token_type_ids": np.zeros((1, 3), np.int64)}  # fmt: skip
    padded = jetpack_check.pad_to(feeds, 5, pad_id=0)
    assert padded["input_ids"].tolist() == [[101, 7, 102, 0, 0]]
    assert padded["attention_mask"].tolist() == [[1, 1, 1, 0, 0]]
    assert jetpack_check.pad_to(padded, 4, pad_id=0) is padded
