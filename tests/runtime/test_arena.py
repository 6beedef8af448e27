"""Memory comes back after a large request (issue #20 item 6): ORT's CPU arena is released after each graph run.

Each case runs in a fresh process and reads its own resident set (``/proc/self/status`` VmRSS), so the numbers are
that process's alone. The large request is one graph run of 256 rows x 128 tokens (the run limits raised so it is
not split), which grows the tiny model's arena by far more than ``BOUND_MB``; the control keeps the arena (the
setting before this fix) and must stay above the bound, so the bound is shown to tell the two apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BOUND_MB = 40.0  # resident memory a process may keep above its pre-request level after the large request
ROWS, TOKENS = 256, 128

SCRIPT = """
import json, sys
from pathlib import Path
from acc.runtime import Runtime, read_manifest
from acc.runtime.session import ort_factory

bundle, release, rows = sys.argv[1], sys.argv[2] == "release", int(sys.argv[3])
def rss_mb():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024
long_text = " ".join(["a remarkably long and thoughtful review"] * 20)  # ~122 tokens
if release:  # the runtime as users load it
    runtime = Runtime.load(bundle, device="cpu", threads=1, max_run_rows=rows, max_run_tokens=rows * 128)
    run = lambda texts: runtime.predict(texts)
else:  # the same graph with the arena kept at its high-water mark
    from acc.runtime.inputs import TextEncoder
    manifest = read_manifest(bundle)
    encoder = TextEncoder.from_manifest(manifest)
    backend = ort_factory("cpu", threads=1, manifest=manifest, release_arena=False)(
        manifest.bundle_dir / manifest.profiles[0].graph)
    run = lambda texts: backend.infer(encoder.encode(texts).feeds())
for i in range(10):
    run([f"a fine film, take {i}"])
before = rss_mb()
run([long_text] * rows)
print(json.dumps({"before_mb": before, "after_mb": rss_mb()}))
"""


def _kept_mb(bundle: Path, setting: str) -> float:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(bundle), setting, str(ROWS)], capture_output=True,
                          text=True, timeout=300, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    memory = json.loads(done.stdout.strip().splitlines()[-1])
    return memory["after_mb"] - memory["before_mb"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc (Linux)")
def test_memory_returns_after_a_large_request(tiny_export_bundle: Path) -> None:
    kept = _kept_mb(tiny_export_bundle, "kept")
    released = _kept_mb(tiny_export_bundle, "release")
    assert kept > 2 * BOUND_MB, f"the control kept only {kept:.0f} MB: the large request no longer tests the arena"
    assert released < BOUND_MB, f"{released:.0f} MB still resident after the large request (kept arena: {kept:.0f})"
