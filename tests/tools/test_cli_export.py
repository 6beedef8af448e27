"""acc-export: --help, a tiny end-to-end run in process, the console script, one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acc.exporter.triton import check_repository
from acc.runtime import read_manifest
from acc.tools import export as export_tool

SCRIPT = Path(sys.executable).parent / "acc-export"
SMALL = ["--max-examples", "16", "--validate-grid", "none", "--bench-iters", "3", "--bench-batches", "1",
         "--bench-seqs", "16", "--threads", "1"]  # fmt: skip


def _offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def _script() -> str:
    assert SCRIPT.exists(), f"console script acc-export is not installed next to {sys.executable}; pip install -e ."
    return str(SCRIPT)


def test_help_lists_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        export_tool.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--model", "--speedups", "--output", "--no-adjustable", "--inline", "--atol", "--allow-mismatch",
                 "--validate-grid", "--bench-batches", "--overwrite", "--triton", "BUNDLE", "--quiet", "--device"):  # fmt: skip
        assert flag in out, flag


def test_export_in_process_prints_the_summary(
    tiny_checkpoint: Path, sst2_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "bundle"
    argv = ["--model", str(tiny_checkpoint), "--speedups", "1.5", "--output", str(output), "--data-dir", str(sst2_dir)]
    assert export_tool.main(argv + SMALL) == 0
    captured = capsys.readouterr()
    table = captured.out
    assert f"bundle {output}" in table.replace("\n", "")
    for text in ("profile", "SST-2 dev acc", "agree vs torch", "CPU speedup b1 s16", "dense", "s1.5", "100.00%"):
        assert text in table, text
    assert "loading" in captured.err  # progress goes to stderr, the table to stdout
    manifest = read_manifest(output)
    assert manifest.profile_names == ["dense", "s1.5"] and manifest.adjustable is not None
    assert [row.examples for row in manifest.tables.accuracy] == [16, 16]

    assert export_tool.main(argv + SMALL) == 2  # the bundle exists now
    assert "already exists; pass --overwrite" in _one_error_line(capsys.readouterr().err)
    assert read_manifest(output).created_utc == manifest.created_utc


def test_console_script_runs_with_an_argv_list(tiny_checkpoint: Path, sst2_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "bundle"
    argv = [_script(), "--model", str(tiny_checkpoint), "--speedups", "1.5", "--output", str(output), "--data-dir",
            str(sst2_dir), "--no-adjustable", "--no-bench", "--quiet", "--triton", str(tmp_path / "triton"),
            *SMALL]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=_offline_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert "s1.5" in done.stdout and "SST-2 dev acc" in done.stdout
    assert f"Triton model repository {tmp_path / 'triton'}" in done.stdout
    assert check_repository(tmp_path / "triton") == [
        "tiny-bert_dense",
        "tiny-bert_s1_5",
        "tiny-bert_text_dense",
        "tiny-bert_text_s1_5",
        "tiny-bert_tokenizer",
    ]  # from the bundle
    manifest = json.loads((output / "manifest.json").read_text())
    assert [p["name"] for p in manifest["profiles"]] == ["dense", "s1.5"] and manifest["adjustable"] is None
    assert manifest["tables"]["latency"] == []


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--speedups", "50", "speedup 50 is unreachable for a 2-layer model"),
        ("--speedups", "1.5,abc", "speedup 'abc' is not a number"),
        ("--bench-batches", "1,x", "--bench-batches takes comma-separated integers"),
    ],
)
def test_bad_values_exit_2_with_one_error_line(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, needle: str
) -> None:
    output = tmp_path / "out" / "bundle"
    argv = ["--model", str(tiny_checkpoint), "--output", str(output), "--quiet", flag, value]
    assert export_tool.main(argv) == 2
    assert needle in _one_error_line(capsys.readouterr().err)
    assert not output.exists() and not (output.parent.exists() and any(output.parent.iterdir()))


def test_bad_model_name_exits_2(tmp_path: Path) -> None:
    output = tmp_path / "bundle"
    argv = [_script(), "--model", "acc-test/no-such-model", "--output", str(output), "--quiet"]
    done = subprocess.run(argv, capture_output=True, text=True, env=_offline_env(), timeout=120)
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert "cannot load model 'acc-test/no-such-model'" in line and "pass a local checkpoint directory" in line
    assert "Traceback" not in done.stderr
    assert not output.exists() and list(tmp_path.iterdir()) == []


def test_device_cuda_is_refused_with_the_command_that_times_gpus(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Export validates on ONNX Runtime CPU; --device cuda says so and names acc-calibrate (issue #16, item 5)."""
    assert export_tool.main(["--device", "cuda:1", "--output", str(tmp_path / "b"), "--quiet"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "not --device cuda:1" in line and "acc-calibrate BUNDLE --device cuda" in line
    assert list(tmp_path.iterdir()) == []
