"""``acc-export --engine trt`` (exporter/options.py flags, exporter/pipeline.py engine step), in process.

Without TensorRT the command must fail up front: exit 2, one line, no bundle, the model never loaded. With
``fake_trt`` (a recorder of API calls, NOT TensorRT; its engine files are JSON) the engines land in the bundle
and the manifest lists them, which the runtime reader verifies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from acc.exporter.engines import EngineRecord, trt_module
from acc.exporter.engines.flavour import NO_TENSORRT
from acc.profiles import AccError
from acc.runtime import read_manifest
from acc.tools import export as export_tool

SMALL = ["--speedups", "1.5", "--max-examples", "8", "--validate-grid", "none", "--no-bench", "--quiet"]


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir()) if parent.exists() else []


def test_help_lists_the_engine_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        export_tool.main(["--help"])
    out = capsys.readouterr().out
    for flag in ("--engine {trt}", "--engine-precision", "--engine-batch", "--engine-seq", "--engine-target"):
        assert flag in out, flag


def test_no_tensorrt_fails_before_exporting_anything(
    no_trt: None, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from acc.modeling import checkpoint

    def must_not_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before TensorRT was checked")

    monkeypatch.setattr(checkpoint, "load_model", must_not_load)
    out = tmp_path / "out"
    argv = ["--model", str(tiny_checkpoint), "--output", str(out / "bundle"), "--engine", "trt", *SMALL]
    assert export_tool.main(argv) == 2
    assert _errors(capsys.readouterr().err) == [f"error: {NO_TENSORRT}"]
    assert _leftovers(out) == []  # no bundle, no staging directory


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--engine-batch", "8,1,32"], "--engine-batch needs min <= opt <= max"),
        (["--engine-seq", "16,128"], "--engine-seq takes exactly three integers"),
        (["--engine-precision", "int8"], "--engine-precision takes fp16 and/or fp32"),
    ],
)
def test_bad_engine_flags_are_one_line(
    flags: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export_tool.main(["--output", str(tmp_path / "b"), "--engine", "trt", *flags]) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and needle in errors[0]
    assert not (tmp_path / "b").exists()


def _trt_installed() -> bool:
    try:
        trt_module()
    except AccError:
        return False
    return True


@pytest.mark.skipif(_trt_installed(), reason="TensorRT is installed here; the no-TensorRT path needs a machine without")
def test_console_script_without_tensorrt(tiny_checkpoint: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "acc-export"
    assert script.exists(), f"console script acc-export is not installed next to {sys.executable}; pip install -e ."
    argv = [str(script), "--model", str(tiny_checkpoint), "--output", str(tmp_path / "out" / "b"), "--engine", "trt",
            *SMALL]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    assert _errors(done.stderr) == [f"error: {NO_TENSORRT}"] and done.stdout == ""
    assert _leftovers(tmp_path / "out") == []


def test_engines_are_built_into_the_bundle(fake_trt, tiny_checkpoint: Path, sst2_dir: Path, tmp_path: Path) -> None:
    fake_trt(device_cc="sm87")
    output = tmp_path / "bundle"
    argv = ["--model", str(tiny_checkpoint), "--output", str(output), "--data-dir", str(sst2_dir), "--engine", "trt",
            "--engine-precision", "fp16,fp32", "--engine-batch", "1,2,4", "--engine-seq", "8,32,64", *SMALL]  # fmt: skip
    assert export_tool.main(argv) == 0
    manifest = read_manifest(output, verify=True)  # every engine file listed, present and hashed
    graphs = ["dense", "s1.5", "adjustable"]
    assert [(e.profile, e.precision) for e in manifest.engines] == [(g, p) for g in graphs for p in ("fp16", "fp32")]
    assert {(e.backend, e.compute_capability, e.trt_version) for e in manifest.engines} == {("tensorrt", "sm87", "10.3.0")}
    assert [e.file for e in manifest.engines][:2] == [
        "engines/dense.tensorrt.sm87.fp16.engine", "engines/dense.tensorrt.sm87.fp32.engine"]  # fmt: skip
    assert manifest.versions["tensorrt"] == "10.3.0"
    raw = json.loads((output / "manifest.json").read_text())["engines"]
    records = [EngineRecord.from_manifest(entry) for entry in raw]
    assert {r.shapes.to_dict()["seq"][2] for r in records} == {64}
    plan = json.loads((output / "engines" / "adjustable.tensorrt.sm87.fp32.engine").read_bytes())
    assert plan["outputs"] == ["logits"] and set(plan["profiles"][0]) == {"input_ids", "attention_mask", "token_type_ids"}
    # TopK widths are a shape input (host-computed keep_counts), so TensorRT can parse the adjustable graph
    layers = len(manifest.profiles[0].profile.keep_ratios)
    assert plan["shape_inputs"] == [{"keep_counts": [[1] * layers, [32] * layers, [64] * layers]}]


def test_a_failed_engine_build_leaves_no_bundle(
    fake_trt, tiny_checkpoint: Path, sst2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from fake_trt import FAIL_BUILD

    fake_trt()
    monkeypatch.setitem(FAIL_BUILD, "message", "Error Code 10: could not find any implementation for node TopK")
    out = tmp_path / "out"
    argv = ["--model", str(tiny_checkpoint), "--output", str(out / "bundle"), "--data-dir", str(sst2_dir),
            "--engine", "trt", "--no-adjustable", *SMALL]  # fmt: skip
    assert export_tool.main(argv) == 2
    errors = _errors(capsys.readouterr().err)
    assert len(errors) == 1 and "failed to build dense.onnx (fp16, sm87): Error Code 10" in errors[0]
    assert _leftovers(out) == []
