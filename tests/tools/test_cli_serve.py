"""acc-serve: --help, one-line errors with exit code 2 (the real server runs in tests/runtime/test_serve.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from acc.tools import serve as serve_tool

SCRIPT = Path(sys.executable).parent / "acc-serve"


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_help_lists_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        serve_tool.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("BUNDLE", "--host", "--port", "--max-batch", "--max-wait-ms", "--on-overlength", "--device",
                 "--threads", "--adaptive", "--high-water-ms", "--low-water-ms", "--max-texts"):  # fmt: skip
        assert flag.lower() in out.lower(), flag


@pytest.mark.parametrize(("argv", "needle"), [
    (["/no/such/bundle"], "bundle /no/such/bundle does not exist"),
    (["/no/such/bundle", "--port", "70000"], "--port must be in 0..65535"),
    (["/no/such/bundle", "--max-batch", "0"], "--max-batch and --max-texts must be >= 1"),
])  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_tool.main(argv) == 2
    captured = capsys.readouterr()
    assert needle in _one_error_line(captured.err) and captured.out == ""


def test_not_a_bundle_and_a_taken_port(tiny_export_bundle: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert serve_tool.main([str(tmp_path)]) == 2
    assert "is not an acc bundle" in _one_error_line(capsys.readouterr().err)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [str(tiny_export_bundle), "--port", str(port), "--device", "cpu", "--threads", "1"]
        assert serve_tool.main(argv) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in _one_error_line(capsys.readouterr().err)


def test_bad_option_value_is_argparse_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        serve_tool.main(["b", "--on-overlength", "cut"])
    assert info.value.code == 2 and "invalid choice: 'cut'" in capsys.readouterr().err


def test_console_script_bad_bundle_exits_2(tmp_path: Path) -> None:
    assert SCRIPT.exists(), f"console script acc-serve is not installed next to {sys.executable}; pip install -e ."
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [str(SCRIPT), str(tmp_path / "missing")]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "does not exist" in _one_error_line(done.stderr)
    assert done.stdout == ""
