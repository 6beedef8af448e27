"""The soak: many clients x many requests against acc-serve, every answer checked (issue #20).

The load, the checks against ``Runtime.predict`` and the numbers are ``benchmarks/load/load_test.py``'s (imported by
path: benchmarks/ is a folder of scripts); this adds the server's resident-memory ceiling under that load, read from
``/proc`` of the acc-serve process the load test starts (a child of this one).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any


def soak(bundle: Path, clients: int, requests_per_client: int) -> dict[str, Any]:
    """The load test's report (histograms dropped) plus ``server_peak_mb``, the acc-serve process's VmHWM."""
    load_test = _load_test()
    config = load_test.LoadConfig(bundle=bundle, clients=clients, requests_per_client=requests_per_client,
                                  progress=False)  # fmt: skip
    peaks: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(1.0):
            for pid in _children(os.getpid()):
                peak = _peak_mb(pid)
                if peak is not None:
                    peaks[pid] = max(peak, peaks.get(pid, 0.0))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        report = load_test.run_load_test(config)
    finally:
        done.set()
        sampler.join(10)
    results = report["results"]
    for block in [results["overall"], *results["per_profile"]]:
        if block:
            block.pop("histogram", None)
    results.pop("histogram_edges_ms", None)
    return {**report, "server_peak_mb": round(max(peaks.values(), default=0.0), 1)}


def _children(pid: int) -> list[int]:
    """Child process ids from ``/proc/PID/task/*/children`` (Linux)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _peak_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _load_test() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "load" / "load_test.py"
    spec = importlib.util.spec_from_file_location("acc_load_test", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}; the soak reuses benchmarks/load/load_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module
