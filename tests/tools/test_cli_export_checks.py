"""acc-export input checks and interruption (issue #20 item 9): one line, exit 2 (130/143 when interrupted), no
bundle and no staging directory left behind; the bundle digest is printed and a signed export verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acc.runtime import Runtime, read_manifest
from acc.tools import export as export_tool

SCRIPT = Path(sys.executable).parent / "acc-export"
SMALL = ["--max-examples", "16", "--validate-grid", "none", "--no-bench", "--threads", "1", "--no-progress"]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-examples", "0"], "--max-examples must be >= 1, got 0"),
        (["--max-examples", "-5"], "--max-examples must be >= 1, got -5"),
        (["--speedups", "1.5,3,1.5"], "--speedups names 1.5 more than once"),
        (["--sign-key", "/nonexistent/key.pem"], "--sign-key /nonexistent/key.pem does not exist"),
    ],
)
def test_bad_values_are_one_line(argv: list[str], message: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert export_tool.main(["--output", str(tmp_path / "b"), *argv]) == 2
    assert message in _error_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_output_under_a_regular_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    assert export_tool.main(["--model", "bert-sst2", "--output", str(tmp_path / "file" / "bundle")]) == 2
    assert "is a file, not a directory; pass another --output" in _error_line(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_output_in_a_read_only_directory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert export_tool.main(["--model", "bert-sst2", "--output", str(locked / "bundle")]) == 2
    assert "is not writable" in _error_line(capsys)


def test_signed_export_prints_its_digest_and_verifies(tiny_checkpoint: Path, sst2_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    pytest.importorskip("model_signing")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "key.pem", tmp_path / "key.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    output = tmp_path / "bundle"
    argv = ["--model", str(tiny_checkpoint), "--speedups", "1.5", "--output", str(output), "--data-dir", str(sst2_dir),
            "--sign-key", str(private), *SMALL]  # fmt: skip
    assert export_tool.main(argv) == 0
    digest = read_manifest(output).digest
    assert f"bundle {output} digest {digest}" in capsys.readouterr().out
    assert (output / "manifest.json.sig").is_file()
    Runtime.load(output, device="cpu", digest=digest, verify_key=public, preload=False)


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")])
def test_an_interrupted_export_leaves_nothing_and_no_traceback(
    signum: int, code: int, name: str, tiny_checkpoint: Path, sst2_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out" / "bundle"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([str(SCRIPT), "--model", str(tiny_checkpoint), "--speedups", "1.5", "--output",
                                str(output), "--data-dir", str(sst2_dir), *SMALL], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 180
    while not any(output.parent.glob(".bundle.staging-*")) and process.poll() is None:
        assert time.monotonic() < deadline, "no staging directory appeared"
        time.sleep(0.05)
    assert process.poll() is None, "the export finished before it could be interrupted"
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert "Traceback" not in err
    assert f"error: export interrupted ({name}); no bundle was written" in err
    assert list(output.parent.iterdir()) == []
