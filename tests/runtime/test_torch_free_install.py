"""``pip install acc-deploy`` serves a bundle without torch, proven in a fresh venv (slow: it installs from PyPI).

The venv is made without system site packages and gets this checkout (``--no-deps``) plus exactly the
``[project] dependencies`` of pyproject.toml. A bert-sst2 bundle exported here, in the test's own (export) venv, is then
loaded with ``Runtime.load``, classifies two sentences and is served by ``acc-serve``; ``import torch`` must fail there
and ``acc-export`` must name the extra it needs. About 2 minutes on 2 shared cores with a warm pip cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CORE = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
NOT_SOURCE = (".git", ".venv", "bundles", "build", "dist", "*.egg-info", "__pycache__", ".ruff_cache", ".pytest_cache")
PREDICT = """
import json, sys
from acc.runtime import Runtime

runtime = Runtime.load(sys.argv[1])
out = runtime.predict(["a gorgeous, witty, seductive movie .", "flat and boring ."], speedup=3.0)
heavy = sorted(m for m in ("torch", "transformers", "acc.exporter", "acc.modeling") if m in sys.modules)
print(json.dumps({"labels": out.labels, "profile": out.profile, "heavy": heavy}))
"""
STARTUP_S = 120.0


def _run(argv: list[str], timeout: float = 900, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False, **kwargs)


@pytest.fixture(scope="module")
def bert_sst2_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real acc-export bundle of the shipped bert-sst2 (profiles dense and s3), made with the export extra."""
    from acc.exporter import ExportOptions, main_export

    output = tmp_path_factory.mktemp("torch-free") / "bert-sst2"
    options = ExportOptions(model="bert-sst2", speedups=(3.0,), output=output, max_examples=32, validate_grid="none",
                            bench=False, progress=False)  # fmt: skip
    return main_export(options).bundle


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bin/`` of a venv holding this checkout and the core dependencies only."""
    root = tmp_path_factory.mktemp("core-venv")
    source = root / "acc-deploy"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))  # pip builds in the tree it is given
    made = _run([sys.executable, "-m", "venv", str(root / "venv")])
    assert made.returncode == 0, made.stderr
    python = root / "venv" / "bin" / "python"
    assert "include-system-site-packages = false" in (root / "venv" / "pyvenv.cfg").read_text()
    for argv in ([str(python), "-m", "pip", "install", "-q", "--no-deps", str(source)],
                 [str(python), "-m", "pip", "install", "-q", *CORE]):  # fmt: skip
        done = _run(argv)
        assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stderr[-3000:]}"
    return python.parent


def test_core_install_has_no_torch_and_points_exporting_at_the_extra(core_venv: Path) -> None:
    no_torch = _run([str(core_venv / "python"), "-c", "import torch"])
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    export = _run([str(core_venv / "acc-export"), "--help"])
    assert export.returncode == 2
    assert export.stderr == ('error: acc-export needs torch and transformers, which this install lacks; '
                             'pip install "acc-deploy[export]"\n')  # fmt: skip


def test_core_install_loads_predicts_and_serves_a_bundle(core_venv: Path, bert_sst2_bundle: Path) -> None:
    done = _run([str(core_venv / "python"), "-c", PREDICT, str(bert_sst2_bundle)], timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"labels": ["positive", "negative"], "profile": "s3", "heavy": []}

    argv = [str(core_venv / "acc-serve"), str(bert_sst2_bundle), "--host", "127.0.0.1", "--port", "0",
            "--device", "cpu", "--threads", "1", "--max-wait-ms", "2"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        url = _listening_url(process, lines)
        body = json.dumps({"texts": ["flat and boring ."], "speedup": 3.0}).encode()
        request = urllib.request.Request(f"{url}/predict", data=body, headers={"content-type": "application/json"})
        answer = _post(request, lambda exc: f"POST {url}/predict failed ({exc}); acc-serve: {''.join(lines)}")
        assert answer["labels"] == ["negative"] and answer["profile"] == "s3"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _listening_url(process: subprocess.Popen[str], lines: list[str]) -> str:
    """The server's URL from its 'listening on' line once it accepts, read on a thread so it cannot hang the test."""
    found = threading.Event()

    def read() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if "Application startup complete" in line:  # the socket is bound before it accepts (uvicorn's line)
                found.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + STARTUP_S
    while not found.wait(0.2):
        assert process.poll() is None, f"acc-serve exited with {process.returncode}: {''.join(lines)}"
        assert time.monotonic() < deadline, f"acc-serve did not start in {STARTUP_S} s: {''.join(lines)}"
    return next(line for line in lines if "listening on http://" in line).rsplit("listening on ", 1)[1].strip()


def _post(request: urllib.request.Request, message: Callable[[OSError], str]) -> dict:
    """The JSON answer; a refused connection is retried for a few seconds (once, on this machine, the first request
    after uvicorn's 'startup complete' line was refused), any other failure is reported with the server's log."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    deadline = time.monotonic() + 15
    while True:
        try:
            with direct.open(request, timeout=60) as response:
                return json.loads(response.read())
        except OSError as exc:
            refused = isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)
            if not refused or time.monotonic() > deadline:
                raise AssertionError(message(exc)) from exc
            time.sleep(0.5)
