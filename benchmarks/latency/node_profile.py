"""Where a bundle graph's CPU time goes: ONNX Runtime's own node profile, grouped by what each node came from.

Why: at b1 s64 the pruned fused graphs reach 0.54–0.83 of their FLOPs-theoretical speedup (issue #17). The FLOPs
model counts the ACC score and the selection as free; on CPU their ``ai.acc`` functions are inlined into dozens of
small ORT nodes per pruned layer. This splits each graph's summed kernel time into ``TokenSelect``- and
``AccScore``-derived nodes and the rest (ORT names inlined nodes after the call they came from). Profiling adds a
fixed cost per node, so small nodes weigh more here than in an unprofiled run: read the shares, not the
milliseconds.

    python benchmarks/latency/node_profile.py BUNDLE --batch 1 --seq 64 --out benchmarks/results/STEM
writes STEM.json, STEM.md and STEM.png.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

GROUPS = ("token_select", "acc_score", "other")


def group_of(node: str) -> str:
    low = node.lower()
    return "token_select" if "tokenselect" in low else "acc_score" if "accscore" in low else "other"


def profile_graph(path: Path, feeds: dict[str, np.ndarray], threads: int, warmup: int, iters: int) -> dict[str, Any]:
    """Summed kernel time per group (µs per run) and node counts per group, from ORT's profile of ``iters`` runs."""
    import onnxruntime as ort

    from acc.runtime.ort_session import session_options

    options = session_options("cpu", threads)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = os.path.join(folder, path.stem)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        used = {i.name for i in session.get_inputs()}
        run_feeds = {k: v for k, v in feeds.items() if k in used}
        for _ in range(warmup + iters):
            session.run(None, run_feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    time_us: dict[str, float] = defaultdict(float)
    nodes: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            node = event["name"].removesuffix("_kernel_time")
            time_us[group_of(node)] += event["dur"]
            nodes[group_of(node)].add(node)
    runs = warmup + iters
    return {
        "graph": path.stem,
        "kernel_us_per_run": {g: round(time_us[g] / runs, 1) for g in GROUPS},
        "nodes": {g: len(nodes[g]) for g in GROUPS},
    }


def render(data: dict[str, Any], stem: Path) -> None:
    rows = data["graphs"]
    lines = [
        f"# ORT CPU node profile: {data['bundle']} (b{data['batch']} s{data['seq']}, {data['threads']} threads)",
        "",
        f"{data['created_utc']}; {data['iters']} profiled runs after {data['warmup']} warm-up runs; onnxruntime "
        f"{data['onnxruntime']}. Profiling adds a fixed cost per node: read the shares, not the milliseconds.",
        "",
        f"![kernel time by origin]({stem.name}.png)",
        "",
        "| graph | nodes (TokenSelect / AccScore / other) | kernel µs per run (TokenSelect / AccScore / other) | "
        "selection share |",
        "|---|---|---|---|",
    ]
    for row in rows:
        t, n = row["kernel_us_per_run"], row["nodes"]
        total = sum(t.values()) or 1.0
        share = (t["token_select"] + t["acc_score"]) / total
        lines.append(f"| {row['graph']} | {n['token_select']} / {n['acc_score']} / {n['other']} | "
                     f"{t['token_select']:.0f} / {t['acc_score']:.0f} / {t['other']:.0f} | {100 * share:.0f}% |")  # fmt: skip
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bottom = np.zeros(len(rows))
    for group in GROUPS:
        values = np.array([r["kernel_us_per_run"][group] / 1e3 for r in rows])
        ax.bar([r["graph"] for r in rows], values, bottom=bottom, label=group)
        bottom += values
    ax.set_ylabel("summed kernel time per run (ms, profiled)")
    ax.set_title(f"{data['bundle']}: b{data['batch']} s{data['seq']}, ORT CPU {data['threads']} threads")
    ax.legend()
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--out", type=Path, required=True, help="output stem: STEM.json, STEM.md, STEM.png")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    from acc.runtime import read_manifest

    manifest = read_manifest(args.bundle)
    rng = np.random.default_rng(0)
    feeds = {
        "input_ids": rng.integers(1000, 30000, (args.batch, args.seq), dtype=np.int64),
        "attention_mask": np.ones((args.batch, args.seq), np.int64),
        "token_type_ids": np.zeros((args.batch, args.seq), np.int64),
    }
    graphs = []
    for entry in manifest.profiles:
        print(f"profiling {entry.name}", flush=True)
        graphs.append(profile_graph(manifest.path(entry.graph), feeds, args.threads, args.warmup, args.iters))
    data = {
        "bundle": manifest.model.name, "attention": manifest.graph_format.get("attention"), "batch": args.batch,
        "seq": args.seq, "threads": args.threads, "warmup": args.warmup, "iters": args.iters,
        "onnxruntime": ort.__version__, "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "graphs": graphs,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    render(data, args.out)
    print(f"wrote {args.out}.json/.md/.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
