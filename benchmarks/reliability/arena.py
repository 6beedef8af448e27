"""Does memory come back after a large request? ORT's CPU arena kept vs released after each run (issue #20 item 6).

Each measurement is a fresh process that loads the dense graph of a bundle the way ``Runtime`` does (verified bytes,
one thread, as acc-serve's default) and reads its own resident set (``/proc/self/status``: VmRSS now, VmHWM peak):
idle after a few small requests, the peak during the largest graph run a request can make (``MAX_RUN_ROWS`` rows x
``MAX_RUN_TOKENS`` tokens: every bigger request is split into runs of at most this, so it is also the peak of the
largest allowed request), and after it. Then a few hundred one-text requests are timed, so the latency cost of
releasing the arena shows next to the memory it returns. Settings alternate over ``rounds`` to share the noise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from server_probe import child_row

ARENA_SCRIPT = """
import json, sys, time
from pathlib import Path
from acc.runtime import read_manifest
from acc.runtime.inputs import TextEncoder
from acc.runtime.runtime import MAX_RUN_ROWS, MAX_RUN_TOKENS
from acc.runtime.session import ort_factory

bundle, release, small = sys.argv[1], sys.argv[2] == "release", int(sys.argv[3])
def memory():
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM")}
manifest = read_manifest(bundle)
encoder = TextEncoder.from_manifest(manifest)
factory = ort_factory("cpu", threads=1, manifest=manifest, release_arena=release)
backend = factory(manifest.bundle_dir / manifest.profiles[0].graph)
def run(texts):
    backend.infer(encoder.encode(texts).feeds())
for i in range(20):
    run([f"a fine film, take {i}"])
idle = memory()
rows = min(MAX_RUN_ROWS, MAX_RUN_TOKENS // manifest.model.max_length)
start = time.perf_counter()
run([" ".join(["a remarkably long and thoughtful review that keeps going"] * 80)] * rows)
large_s = time.perf_counter() - start
after = memory()
times = []
for i in range(small):
    start = time.perf_counter()
    run([f"a fine film, take {i}"])
    times.append((time.perf_counter() - start) * 1e3)
times.sort()
print(json.dumps({"idle_rss_mb": idle["VmRSS"], "peak_mb": after["VmHWM"], "after_rss_mb": after["VmRSS"],
                  "after_small_rss_mb": memory()["VmRSS"], "large_rows": rows,
                  "large_tokens": manifest.model.max_length, "large_s": round(large_s, 2), "small_requests": small,
                  "small_p50_ms": round(times[len(times) // 2], 3), "small_mean_ms": round(sum(times) / len(times), 3),
                  "small_p99_ms": round(times[int(len(times) * 0.99)], 3)}))
"""


def arena_settings(bundle: Path, rounds: int = 3, small: int = 300) -> list[dict[str, Any]]:
    """One row per (round, setting): memory idle / peak / after the largest run, and small-request latency."""
    rows = []
    for round_ in range(rounds):
        for setting in ("kept", "release"):
            command = [sys.executable, "-c", ARENA_SCRIPT, str(bundle), setting, str(small)]
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
            rows.append(child_row(done, {"arena": setting, "round": round_}))
    return rows


def summarise_arena(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per setting: median idle, peak and after-request RSS, MB kept after the request, small-request p50/mean."""
    from statistics import median

    summary = {}
    for setting in dict.fromkeys(row["arena"] for row in rows):
        ok = [row for row in rows if row["arena"] == setting and "failed" not in row]
        if not ok:
            continue
        summary[setting] = {key: round(median(row[key] for row in ok), 2) for key in
                            ("idle_rss_mb", "peak_mb", "after_rss_mb", "small_p50_ms", "small_mean_ms")}  # fmt: skip
        summary[setting]["kept_after_mb"] = round(median(row["after_rss_mb"] - row["idle_rss_mb"] for row in ok), 1)
    return summary


if __name__ == "__main__":
    results = arena_settings(Path(sys.argv[1]), rounds=int(sys.argv[2]) if len(sys.argv) > 2 else 3)
    print(json.dumps({"rows": results, "summary": summarise_arena(results)}, indent=2))
