"""The Triton kernels compile for the H100 (sm_90) without a GPU, without spills, at BERT shapes' launch choices.

Runs ``acc.modeling.kernels.compile_check`` in a fresh process without ``TRITON_INTERPRET`` (this folder's conftest
sets it, and the interpreter patches triton.language for the whole process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_kernels_compile_for_sm90_without_spills() -> None:
    triton = pytest.importorskip("triton")
    if not (Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas").exists():
        pytest.skip("triton's NVIDIA backend (ptxas) is not installed")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, "-m", "acc.modeling.kernels.compile_check"], capture_output=True, text=True,
                         env=env, timeout=300, check=False)  # fmt: skip
    rows = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    kernels = {row["kernel"] for row in rows}
    assert {
        "_column_sum_kernel",
        "_row_lse_kernel",
        "_select_kernel",
        "_select_plan_kernel",
        "_gather_kernel",
    } <= kernels
    bad = [row for row in rows if "error" in row or row["local"] > 0]
    assert run.returncode == 0 and not bad, (bad, run.stderr[-2000:])
