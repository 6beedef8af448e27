"""Names of the device a latency row was measured on: the CPU model, or the GPU name on CUDA.

One definition for export-time tables (``acc.exporter`` imports it), calibration and the runtime's row lookup, so a
bundle's rows and the machine serving it name the device the same way. No torch: the GPU is asked of ``nvidia-smi``.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from .ort_session import DEVICES, BackendError


def cpu_name() -> str:
    """A readable CPU model name (``/proc/cpuinfo`` on Linux), for keying latency tables by device."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def gpu_name() -> str:
    """Name of the GPU ORT's CUDA EP uses (the first visible one), as ``nvidia-smi`` and ``torch`` spell it.

    Asked of ``nvidia-smi`` rather than torch so the runtime never imports torch; ``CUDA_VISIBLE_DEVICES`` is read
    now, at call time, because it decides which physical GPU is device 0. When nothing answers, ``"cuda"``: rows
    of unnamed GPUs then share one key instead of failing a load that would otherwise run.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    command = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", visible or "0"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return "cuda"
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[0] if lines else "cuda"


def device_name(device: str) -> str:
    """The ``device`` key of latency rows for a resolved device: the CPU model, or the GPU name on ``cuda``."""
    if device == "cpu":
        return cpu_name()
    if device == "cuda":
        return gpu_name()
    raise BackendError(f"unknown device {device!r}; pass one of {', '.join(repr(d) for d in DEVICES)}")
