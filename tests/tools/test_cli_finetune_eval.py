"""acc-finetune and acc-eval: --help, a tiny end-to-end run in process, the console scripts, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from acc.tools import evaluate as eval_tool
from acc.tools import finetune as finetune_tool

SCRIPTS = Path(sys.executable).parent


def _script(name: str) -> str:
    path = SCRIPTS / name
    assert path.exists(), f"console script {name} is not installed next to {sys.executable}; pip install -e ."
    return str(path)


def _offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.mark.parametrize(("main", "flags"), [
    (finetune_tool.main, ["--output", "--train-speedup", "--eval-speedups", "--s-max", "--no-amp"]),
    (eval_tool.main, ["--model", "--speedups", "--output", "--max-examples", "--device"]),
])  # fmt: skip
def test_help_lists_the_flags(main, flags, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in flags)


def test_finetune_then_eval_in_process(tiny4_checkpoint, sst2_dir, tmp_path, capsys):
    out_dir = tmp_path / "acc-tiny4"
    argv = ["--model", str(tiny4_checkpoint), "--output", str(out_dir), "--data-dir", str(sst2_dir)]
    argv += ["--max-train-examples", "32", "--max-eval-examples", "24", "--epochs", "1", "--batch-size", "16"]
    argv += ["--max-length", "40", "--eval-speedups", "1.5,3", "--device", "cpu", "--quiet"]
    assert finetune_tool.main(argv) == 0
    table = capsys.readouterr().out
    assert "dense" in table and "s1.5" in table and "s3" in table
    trained = json.loads((out_dir / "acc_config.json").read_text())["accuracy"]

    report = tmp_path / "eval.json"
    argv = ["--model", str(out_dir), "--speedups", "1.5,3", "--data-dir", str(sst2_dir), "--max-examples", "24"]
    argv += ["--max-length", "40", "--batch-size", "5", "--device", "cpu", "-o", str(report), "--quiet"]
    assert eval_tool.main(argv) == 0
    assert "s3" in capsys.readouterr().out
    rows = json.loads(report.read_text())["rows"]
    # Same data, length and model as the evaluation at the end of fine-tuning: same accuracy, whatever the batch.
    assert [(r["profile"], r["accuracy"]) for r in rows] == [(r["profile"], r["accuracy"]) for r in trained]


def test_eval_console_script(tiny_checkpoint, sst2_dir, tmp_path):
    report = tmp_path / "rows.json"
    argv = [_script("acc-eval"), "--model", str(tiny_checkpoint), "--speedups", "1.5", "--data-dir", str(sst2_dir)]
    argv += ["--max-examples", "8", "--device", "cpu", "-o", str(report), "--quiet"]
    done = subprocess.run(argv, capture_output=True, text=True, env=_offline_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "s1.5" in done.stdout
    assert [row["profile"] for row in json.loads(report.read_text())["rows"]] == ["dense", "s1.5"]


def test_finetune_console_script_bad_model_exits_2(tmp_path):
    argv = [_script("acc-finetune"), "--model", "acc-test/no-such-model", "--output", str(tmp_path / "o")]
    done = subprocess.run(argv + ["--quiet"], capture_output=True, text=True, env=_offline_env(), timeout=120)
    assert done.returncode == 2
    assert "acc-test/no-such-model" in _one_error_line(done.stderr)
    assert not (tmp_path / "o").exists()


def test_bad_model_directory_exits_2(tmp_path, capsys):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    assert eval_tool.main(["--model", str(empty), "--quiet"]) == 2
    assert "config.json" in _one_error_line(capsys.readouterr().err)
    assert finetune_tool.main(["--model", str(empty), "--output", str(tmp_path / "o"), "--quiet"]) == 2
    assert "config.json" in _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(("speedups", "needle"), [("1.5,abc", "'abc'"), ("1.5,50", "unreachable")])
def test_bad_speedups_exit_2(tiny_checkpoint, sst2_dir, speedups, needle, capsys):
    argv = ["--model", str(tiny_checkpoint), "--speedups", speedups, "--data-dir", str(sst2_dir), "--quiet"]
    assert eval_tool.main(argv) == 2
    assert needle in _one_error_line(capsys.readouterr().err)


def test_finetune_bad_option_exits_2(tiny_checkpoint, tmp_path, capsys):
    argv = ["--model", str(tiny_checkpoint), "--output", str(tmp_path / "o"), "--epochs", "0", "--quiet"]
    assert finetune_tool.main(argv) == 2
    assert "epochs" in _one_error_line(capsys.readouterr().err)
