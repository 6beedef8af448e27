"""Memory per profile of a bundle on ONNX Runtime CPU: files on disk, resident memory of a loaded session, and the
extra memory its first runs take (ORT's CPU arena and intermediate tensors) at a few batch x length cells.

Each profile is measured in a fresh Python process (so one profile's arena never hides another's), as the process's
resident set size from /proc/self/status: VmRSS after ``import onnxruntime``, after the session is created, and the
peak (VmHWM) after running every cell. On a Jetson CPU and GPU share DRAM, so these numbers bound what the CPU path
needs there; a CUDA/TensorRT session adds its own device arena on top (not measured here: no GPU).

    python benchmarks/edge/memory.py bundles/bert-sst2 --out benchmarks/results/memory-cpu-bert-sst2
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

CELLS = ((1, 128), (4, 128), (8, 512))
PROBE = r"""
import json, sys
import numpy as np

def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}

import onnxruntime
before = rss()["VmRSS"]
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 1
session = onnxruntime.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
loaded = rss()["VmRSS"]
names = {i.name for i in session.get_inputs()}
peaks = {}
for batch, seq in json.loads(sys.argv[2]):
    feeds = {"input_ids": np.full((batch, seq), 1000, np.int64), "attention_mask": np.ones((batch, seq), np.int64),
             "token_type_ids": np.zeros((batch, seq), np.int64)}
    session.run(None, {k: v for k, v in feeds.items() if k in names})
    peaks[f"{batch}x{seq}"] = rss()["VmHWM"]
print(json.dumps({"runtime_mb": before, "session_mb": loaded - before, "peak_mb": peaks}))
"""


def measure(bundle: Path, python: str = sys.executable) -> dict:
    """Sizes on disk and, per profile graph, the resident memory of an ORT CPU session and its peak over CELLS."""
    from acc.runtime import read_manifest

    manifest = read_manifest(bundle)
    graphs = {p.name: p.graph for p in manifest.profiles}
    weights = sorted((bundle / "graphs").glob("*.bin"))
    rows = []
    for name, graph in graphs.items():
        done = subprocess.run([python, "-c", PROBE, str(bundle / graph), json.dumps(CELLS)], check=True,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        probe = json.loads(done.stdout)
        rows.append({"profile": name, "graph_kb": round((bundle / graph).stat().st_size / 1024, 1), **probe,
                     "arena_mb": {cell: round(peak - probe["runtime_mb"] - probe["session_mb"], 1)
                                  for cell, peak in probe["peak_mb"].items()}})  # fmt: skip
    total = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())
    return {"bundle": bundle.name, "machine": platform.machine(), "utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "bundle_mb": round(total / 2**20, 1), "weights_mb": round(sum(w.stat().st_size for w in weights) / 2**20, 1),
            "cells": [f"{b}x{s}" for b, s in CELLS], "profiles": rows}  # fmt: skip


def markdown(result: dict) -> str:
    cells = result["cells"]
    lines = [f"# Memory per profile, `{result['bundle']}` on ONNX Runtime CPU ({result['machine']}, 1 thread)", "",
             (f"Bundle on disk {result['bundle_mb']} MB, of which shared weights {result['weights_mb']} MB (every graph "
             "reads the same `weights.bin`)."), "",
             "| profile | graph KB | session MB | " + " | ".join(f"peak extra MB {c}" for c in cells) + " |",
             "|---|---|---|" + "---|" * len(cells)]  # fmt: skip
    for row in result["profiles"]:
        lines.append(f"| {row['profile']} | {row['graph_kb']} | {row['session_mb']:.1f} | "
                     + " | ".join(f"{row['arena_mb'][c]:.1f}" for c in cells) + " |")  # fmt: skip
    lines += ["", ("session MB: resident memory a loaded session adds (weights unpacked + graph); peak extra MB: the "
              "process's peak resident memory after running the cells in order, minus onnxruntime and the session (ORT's CPU "
              "arena and activations; a peak carries over to later cells). onnxruntime itself: "
              f"{result['profiles'][0]['runtime_mb']:.0f} MB."), ""]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="stem: writes STEM.json and STEM.md")
    args = parser.parse_args(argv)
    if not (args.bundle / "manifest.json").is_file():
        print(f"error: {args.bundle} has no manifest.json; pass a bundle written by acc-export", file=sys.stderr)
        return 2
    result = measure(args.bundle)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
