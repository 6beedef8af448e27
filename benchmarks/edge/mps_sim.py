"""Edge-class GPU by simulation: the Triton fast path's latency table on a GPU restricted to a share of its SMs.

Jetson AGX Orin has 16 SMs (64 GB: 2048 CUDA cores, 128 per SM) or 14 (32 GB), Orin NX / Nano 8 or fewer; an
H100 SXM has 132. Under CUDA MPS with ``CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=12`` a client gets about 12% of them (torch
then sees 14), so kernels run on an Orin-like number of SMs while everything else stays an H100's.
``benchmarks/edge/mps_sim.sh`` starts MPS and runs this twice (100% and 12%); this file only measures and renders.

    python benchmarks/edge/mps_sim.py run --label mps12 --out $OUT/edge-sim-mps12.json
    python benchmarks/edge/mps_sim.py table $OUT/edge-sim-*.json --out $OUT/edge-sim        # -> .md and .json
    python benchmarks/edge/mps_sim.py run --smoke --label cpu --out /tmp/edge-sim-cpu.json  # CPU, tiny: checks code

Each ``run`` times dense and every profile of ``profile_for_speedup(BERT_BASE, s)`` at batch 1/4 x length
64/128/256 (full-length inputs, fp16, CUDA graphs), with the same cell code as ``benchmarks/device/kernels_bench.py``
(one shared implementation: round-robin replays, p50, speedup vs the same pass without selection). What an SM limit
does not model is listed in ``docs/jetson.md`` and in the table's footer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "device"))  # kernels_bench and its kernels_parts

import kernels_bench

DEFAULT_CELLS = "1x64,1x128,1x256,4x64,4x128,4x256"
NOT_MODELLED = (
    "An SM limit is not an Orin: clocks (the H100 keeps its ~1.98 GHz boost, Orin's GPU runs at 0.6-1.3 GHz by "
    "power mode), memory bandwidth (3.35 TB/s HBM3 and a 50 MB L2 stay whole; Orin has 102-205 GB/s LPDDR5 shared "
    "with the CPU and 4 MB L2), unified memory (no host-device copies on Orin, but CPU and GPU contend for the same "
    "DRAM), and kernel launch / CPU cost (the H100 host's x86 cores vs Orin's Cortex-A78AE). Read the ratios "
    "(profile vs dense in the same run) as the SM-bound part of the answer, not Orin latencies."
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="time the table on the GPU this process sees (one MPS share)")
    run.add_argument("--label", required=True, help="name of this run in the table, e.g. full or mps12")
    run.add_argument("--out", type=Path, required=True, help="result JSON")
    run.add_argument("--cells", default=DEFAULT_CELLS, help=f"batch x seq cells (default {DEFAULT_CELLS})")
    run.add_argument("--speedups", default="1.5,3,4.8")
    run.add_argument("--iters", type=int, default=30, help="timed CUDA-graph replays per candidate and cell")
    run.add_argument("--warmup", type=int, default=5)
    run.add_argument("--budget-s", type=float, default=240.0, help="start no new cell after this many seconds")
    run.add_argument("--smoke", action="store_true", help="CPU, Triton interpreter, tiny model: checks the script")
    table = sub.add_parser("table", help="render run JSONs into one Markdown + JSON table")
    table.add_argument("runs", nargs="+", type=Path)
    table.add_argument("--out", type=Path, required=True, help="stem: writes STEM.md and STEM.json")
    return parser.parse_args(argv)


def gpu_info() -> dict:
    """What this process sees: the SM count is the check that the MPS share took effect."""
    import os

    import torch

    info = {"mps_thread_percentage": os.environ.get("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"),
            "torch": torch.__version__, "cuda_available": torch.cuda.is_available()}  # fmt: skip
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name, sm_count=props.multi_processor_count, memory_gib=round(props.total_memory / 2**30, 1)
        )
    return info


def run(args: argparse.Namespace) -> dict:
    """One latency table on whatever share of the GPU this process has; rows as kernels_bench writes them."""
    import os

    if args.smoke:
        os.environ.setdefault("TRITON_INTERPRET", "1")
    bench_args = kernels_bench._parse(["--out", str(args.out), "--cells", args.cells, "--speedups", args.speedups,
                                       "--iters", str(args.iters), "--warmup", str(args.warmup), "--methods", "fused",
                                       "--budget-s", str(args.budget_s), *(["--smoke"] if args.smoke else [])])  # fmt: skip
    if args.smoke:  # the Triton interpreter takes seconds per pass: 8 tokens, 2 timed rounds
        bench_args.cells = ",".join(f"{b}x{min(int(s), 8)}" for b, s in (c.split("x") for c in args.cells.split(",")))
        bench_args.iters, bench_args.warmup = min(args.iters, 2), 1
    ctx = kernels_bench.Context(bench_args)
    result = {"schema_version": 1, "name": "edge-sim", "label": args.label, "smoke": args.smoke,
              "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "env": gpu_info()}  # fmt: skip
    print(json.dumps(result["env"]), flush=True)
    result["latency"] = kernels_bench.latency_part(ctx)
    kernels_bench._write(args.out, result)
    print(f"wrote {args.out}", flush=True)
    return result


def table(runs: list[dict]) -> tuple[str, dict]:
    """Markdown: per run, per (batch, seq) cell, dense p50 and each profile's speedup vs dense (fused path)."""
    lines = ["# Edge-class GPU by simulation (CUDA MPS SM share), Triton fast path, BERT-base fp16", ""]
    summary: dict = {"runs": []}
    for result in runs:
        env, latency = result["env"], result["latency"]
        rows = [r for r in latency["rows"] if "p50_ms" in r]
        cells = sorted({(r["batch"], r["seq"]) for r in rows})
        profiles = [p["name"] for p in latency["profiles"]]
        heading = (f"## {result['label']}: {env.get('gpu', 'cpu')}, {env.get('sm_count', '-')} SMs "
                   f"(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE={env.get('mps_thread_percentage')})")  # fmt: skip
        lines += [heading, "",
                  "| batch x seq | dense p50 ms | " + " | ".join(f"{p} (theory)" for p in profiles) + " |",
                  "|---|---|" + "---|" * len(profiles)]  # fmt: skip
        run_summary = {"label": result["label"], "env": env, "cells": []}
        for batch, seq in cells:
            by_name = {r["candidate"]: r for r in rows if (r["batch"], r["seq"]) == (batch, seq)}
            dense = by_name.get("dense")
            cols, cell = [], {"batch": batch, "seq": seq, "dense_p50_ms": dense["p50_ms"] if dense else None}
            for name in profiles:
                row = by_name.get(f"fused@{name}")
                cols.append(f"{row['speedup_vs_dense']:.2f}x ({row['theoretical_speedup']:.2f})" if row else "–")
                cell[name] = row["speedup_vs_dense"] if row else None
            lines.append(f"| {batch}x{seq} | {dense['p50_ms']:.3f} | " if dense else f"| {batch}x{seq} | – | ")
            lines[-1] += " | ".join(cols) + " |"
            run_summary["cells"].append(cell)
        errors = [r for r in latency["rows"] if "error" in r]
        if errors:
            lines += ["", f"{len(errors)} candidate(s) failed: " + "; ".join(f"{r['candidate']} b{r['batch']} s{r['seq']}: "
                                                                            f"{r['error'][:120]}" for r in errors)]  # fmt: skip
        if latency.get("skipped_cells"):
            lines += ["", f"Not timed (time budget): {', '.join(latency['skipped_cells'])}"]
        lines.append("")
        summary["runs"].append(run_summary)
    lines += [
        "Speedup = dense p50 / profile p50 in the same run (CUDA graphs, full-length inputs).",
        "",
        NOT_MODELLED,
        "",
    ]
    summary["not_modelled"] = NOT_MODELLED
    return "\n".join(lines), summary


def plot(summary: dict, path: Path) -> None:
    """One panel per run: each profile's speedup over dense per (batch x seq) cell, 1.0 marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = summary["runs"]
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), sharey=True, squeeze=False)
    for ax, run in zip(axes[0], runs, strict=True):
        cells = run["cells"]
        labels = [f"{c['batch']}x{c['seq']}" for c in cells]
        profiles = [k for k in cells[0] if k not in ("batch", "seq", "dense_p50_ms")] if cells else []
        for name in profiles:
            ax.plot(labels, [c[name] for c in cells], marker="o", label=name)
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
        env = run["env"]
        ax.set_title(f"{run['label']}: {env.get('sm_count', '?')} SMs")
        ax.set_xlabel("batch x sequence")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("speedup vs dense (same run)")
    axes[0][-1].legend()
    fig.suptitle("ACC profiles on an SM-limited H100 (CUDA MPS), Triton fast path, BERT-base fp16")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.command == "run":
        run(args)
        return 0
    markdown, summary = table([json.loads(path.read_text()) for path in args.runs])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(markdown)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(summary, args.out.with_suffix(".png"))
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
