"""runtime/serve.py: the socket binding, the options, and one real server on a loopback socket (acc-serve)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from acc.profiles import DataError
from acc.runtime import BackendError
from acc.runtime.serve import ServeOptions, bind_socket

httpx = pytest.importorskip("httpx", reason="the [serve] extra is not installed")
pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")

SCRIPT = Path(sys.executable).parent / "acc-serve"
CLIENT = Path(__file__).resolve().parents[2] / "examples" / "serve_client.py"
STARTUP_S = 90.0  # importing onnxruntime and loading the bundle on a shared 2-core machine


def test_bind_socket_gives_a_free_port_and_refuses_a_taken_one() -> None:
    first = bind_socket("127.0.0.1", 0)
    try:
        host, port = first.getsockname()[:2]
        assert host == "127.0.0.1" and port > 0
        first.listen()
        with pytest.raises(BackendError, match=rf"cannot listen on 127.0.0.1:{port} \(.+\); pass another --port"):
            bind_socket("127.0.0.1", port)
    finally:
        first.close()


def test_unresolvable_host_is_one_line() -> None:
    with pytest.raises(BackendError, match="cannot resolve --host 'no-such-host.invalid'"):
        bind_socket("no-such-host.invalid", 0)


@pytest.mark.parametrize(("overrides", "needle"), [
    ({"port": 70000}, "--port must be in 0..65535"),
    ({"max_batch": 0}, "--max-batch and --max-texts must be >= 1"),
    ({"max_wait_ms": -1.0}, "--max-wait-ms >= 0"),
    ({"threads": 0}, "--threads must be >= 1"),
])  # fmt: skip
def test_options_are_checked(overrides: dict, needle: str) -> None:
    with pytest.raises(DataError, match=needle):
        ServeOptions(bundle=Path("b"), **overrides).check()


def _wait_for_url(process: subprocess.Popen, lines: list[str]) -> str:
    """Read stderr on a thread (never blocks the test) until the 'listening on' line or STARTUP_S pass."""
    found = threading.Event()

    def read() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if "listening on http://" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + STARTUP_S
    while not found.wait(0.2):
        assert process.poll() is None, f"acc-serve exited with {process.returncode}: {''.join(lines)}"
        assert time.monotonic() < deadline, f"acc-serve did not start in {STARTUP_S} s: {''.join(lines)}"
    url = next(line for line in lines if "listening on http://" in line).rsplit("listening on ", 1)[1].strip()
    assert url.startswith("http://127.0.0.1:")
    return url


def test_acc_serve_answers_on_a_loopback_socket_and_stops_on_ctrl_c(tiny_export_bundle: Path) -> None:
    assert SCRIPT.exists(), f"console script acc-serve is not installed next to {sys.executable}; pip install -e ."
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    argv = [str(SCRIPT), str(tiny_export_bundle), "--host", "127.0.0.1", "--port", "0", "--device", "cpu",
            "--threads", "1", "--max-wait-ms", "2", "--no-verify"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        url = _wait_for_url(process, lines)
        with httpx.Client(base_url=url, timeout=30) as client:
            answer = client.post("/predict", json={"texts": ["a gripping film", "dull."], "speedup": 1.5})
            assert answer.status_code == 200, answer.text
            assert answer.json()["profile"] == "s1.5" and len(answer.json()["labels"]) == 2
            bad = client.post("/predict", content=b"{", headers={"content-type": "application/json"})
            assert bad.status_code == 400
            assert client.get("/health").json()["status"] == "ok"
            assert 'acc_requests_total{profile="s1.5"} 1.0' in client.get("/metrics").text
        example = subprocess.run([sys.executable, str(CLIENT), "--url", url, "a gripping film"], capture_output=True,
                                 text=True, env=env, timeout=60)  # fmt: skip
        assert example.returncode == 0, example.stderr
        assert "profile dense" in example.stdout and "health: ok" in example.stdout
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        log = "".join(lines)
        assert "Application shutdown complete" in log and "Traceback" not in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
