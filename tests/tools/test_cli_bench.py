"""acc-bench: --help, a tiny end-to-end run in process, the console script, one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acc.exporter.bench import random_bert_checkpoint
from acc.profiles import EncoderShape
from acc.tools import bench as bench_tool

SCRIPT = Path(sys.executable).parent / "acc-bench"
TINY = ["--batches", "1", "--seqs", "16", "--iters", "3", "--warmup", "1", "--quiet"]


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_help_lists_the_flags(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        bench_tool.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "BUNDLE",
        "--random-bert-base",
        "--batches",
        "--seqs",
        "--iters",
        "--warmup",
        "--threads",
        "--max-seconds-per-cell",
        "--output",
        "--source",
        "--device",
    ):
        assert flag.lower() in out.lower(), flag


def test_tiny_run_in_process(tiny_export_bundle: Path, tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out_dir = tmp_path / "results"
    argv = [str(tiny_export_bundle), *TINY, "--threads", "1", "-o", str(out_dir), "--source", str(tiny_checkpoint)]
    assert bench_tool.main(argv) == 0
    stdout = capsys.readouterr().out
    assert "adjustable@s1.5" in stdout and "vs base" in stdout
    files = sorted(out_dir.iterdir())
    assert [p.suffix for p in files] == [".json", ".md", ".png"]
    assert all(f"wrote {p}" in stdout for p in files)
    data = json.loads(files[0].read_text())
    assert data["schema_version"] == 1 and len(data["rows"]) == 4
    assert {row["threads"] for row in data["rows"]} == {1}


@pytest.mark.parametrize(("argv", "needle"), [
    (["/no/such/bundle"], "bundle /no/such/bundle does not exist"),
    ([], "exactly one of them"),
    (["--random-bert-base", "/no/such/bundle"], "exactly one of them"),
    (["/no/such/bundle", "--batches", "1,x"], "--batches takes comma-separated integers"),
    (["/no/such/bundle", "--iters", "0"], "--iters must be >= 1"),
])  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(argv: list[str], needle: str, tmp_path: Path, capsys) -> None:
    assert bench_tool.main([*argv, "-o", str(tmp_path / "r")]) == 2
    assert needle in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


def test_not_a_bundle_and_too_long_seq(tiny_export_bundle: Path, tmp_path: Path, capsys) -> None:
    assert bench_tool.main([str(tmp_path), *TINY]) == 2
    assert "is not an acc bundle" in _one_error_line(capsys.readouterr().err)
    argv = [str(tiny_export_bundle), *TINY, "--seqs", "1024", "-o", str(tmp_path / "r")]
    assert bench_tool.main(argv) == 2
    assert "exceed the model's max_length 512" in _one_error_line(capsys.readouterr().err)


def test_console_script_bad_bundle_exits_2(tmp_path: Path) -> None:
    assert SCRIPT.exists(), f"console script acc-bench is not installed next to {sys.executable}; pip install -e ."
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(SCRIPT), str(tmp_path / "missing")], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    assert "does not exist" in _one_error_line(done.stderr)
    assert done.stdout == ""


def test_random_checkpoint_is_a_loadable_acc_checkpoint(tmp_path: Path) -> None:
    """The --random-bert-base builder at a tiny shape (BERT-base itself is exercised by the slow test)."""
    from acc.modeling.checkpoint import load_model

    shape = EncoderShape(num_layers=2, hidden_size=32, intermediate_size=64, num_heads=2)
    path = random_bert_checkpoint(tmp_path / "rand", shape=shape)
    loaded = load_model(path)
    assert loaded.model.shape == shape
    assert "latency benchmarks only" in json.loads((path / "acc_config.json").read_text())["training"]["note"]


@pytest.mark.slow
def test_random_bert_base_run(tmp_path: Path, capsys) -> None:
    argv = ["--random-bert-base", "--speedups", "3", *TINY, "-o", str(tmp_path)]
    assert bench_tool.main(argv) == 0
    data = json.loads(next(tmp_path.glob("cpu-bert-base-random_*.json")).read_text())
    assert data["metadata"]["latency_only"] is True and data["metadata"]["model"]["num_layers"] == 12
    assert "LATENCY ONLY" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ device, old spellings


def test_bench_times_cpu_only_and_says_where_gpu_latency_comes_from(tmp_path: Path, capsys) -> None:
    assert bench_tool.main(["/no/such/bundle", "--device", "cuda", "-o", str(tmp_path / "r")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "acc-bench times ONNX Runtime CPU only, not --device cuda" in line and "acc-calibrate BUNDLE" in line


def test_old_calibrate_spelling_runs_acc_calibrate_with_a_warning(
    tiny_export_bundle: Path, tmp_path: Path, capsys
) -> None:
    import shutil

    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    argv = ["--calibrate", str(bundle), "--device", "cpu", "--batches", "1", "--seqs", "8", "--iters", "2",
            "--warmup", "0", "--threads", "1", "--no-progress"]  # fmt: skip
    assert bench_tool.main(argv) == 0
    captured = capsys.readouterr()
    assert "use acc-calibrate BUNDLE" in captured.err and "wrote 2 latency rows" in captured.out
