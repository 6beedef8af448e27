"""``acc-export --engine trt`` (exporter/options.py flags, exporter/encoder.py engine step), in process.

Without TensorRT the command must fail up front: exit 2, one line, no bundle, the model never loaded. The real
export with engines (TensorRT-RTX, ahead of time on CPU) is in test_rtx_aot.py; ``fake_trt`` (NOT TensorRT) stays
only to make a build fail on demand, which a real builder does not do for a valid graph.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from acc.exporter.engines import trt_module
from acc.profiles import AccError
from acc.runtime.trt_flavour import NO_TENSORRT
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
