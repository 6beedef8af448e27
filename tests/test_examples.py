"""The examples in examples/ run as documented (examples/serve_client.py runs in tests/runtime/test_serve.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_predict_example_classifies_with_a_bundle(tiny_export_bundle: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(EXAMPLES / "predict.py"), str(tiny_export_bundle)],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("profile dense (no request constraint")
    assert all(line.split()[0] in ("negative", "positive") for line in lines[:2])
