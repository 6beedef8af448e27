"""Render a ``benchmarks/device/gpu_check.py`` JSON as Markdown + PNG (next to it), from the JSON alone.

Usage: python benchmarks/gpu_check/render_gpu_check.py RESULT.json [...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def render_markdown(data: dict) -> str:
    lines = [
        f"# {data['name']} on {data['device']} — ONNX Runtime {data['onnxruntime']} CUDA EP, {data['precision']}",
        "",
    ]
    if data.get("latency_only"):
        lines += ["Random-initialised weights: **latency only**, accuracy is meaningless.", ""]
    if data.get("agreement"):
        lines += [
            "## CUDA EP vs CPU EP on SST-2 dev (872)",
            "",
            "| graph | label agreement | CUDA accuracy | max abs diff (logits, unflipped samples) | max kept-set flip rate (any layer) |",
            "|---|---|---|---|---|",
        ]
        for row in data["agreement"]:
            flips = max(row["flip_rate"].values(), default=0.0)
            lines.append(
                f"| {row['graph']} | {100 * row['label_agreement']:.2f}% | {100 * row['cuda_accuracy']:.2f}% | "
                f"{row['max_abs_diff_unflipped']:.1e} | {100 * flips:.2f}% |"
            )
        lines.append("")
    rows = data["latency"]
    cells = sorted({(r["batch"], r["seq"]) for r in rows})
    candidates = list(dict.fromkeys(r["candidate"] for r in rows))
    lines += [
        "## Latency p50 (ms) and speedup vs the ORT-optimized dense baseline (same run, same cell)",
        "",
        "| candidate | " + " | ".join(f"b{b} s{s}" for b, s in cells) + " |",
        "|---|" + "---|" * len(cells),
    ]
    index = {(r["candidate"], r["batch"], r["seq"]): r for r in rows}
    for name in candidates:
        parts = []
        for b, s in cells:
            r = index[(name, b, s)]
            parts.append(f"{r['p50_ms']:.2f} ({r['speedup_vs_baseline']:.2f}x / th {r['theoretical_speedup']:.2f}x)")
        lines.append(f"| {name} | " + " | ".join(parts) + " |")
    base = data.get("baseline", {})
    lines += ["", f"Baseline: {base.get('method', '?')}; fused ops {base.get('fused_ops', {})}.", ""]
    return "\n".join(lines)


def render_png(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["latency"]
    batches = sorted({r["batch"] for r in rows})
    fig, axes = plt.subplots(1, len(batches), figsize=(4 * len(batches), 3.6), sharey=True)
    for ax, batch in zip(axes if len(batches) > 1 else [axes], batches):
        for name in dict.fromkeys(r["candidate"] for r in rows):
            if name.startswith("adjustable") or name == "baseline":
                continue
            pts = sorted(
                (r["seq"], r["speedup_vs_baseline"], r["theoretical_speedup"])
                for r in rows
                if r["candidate"] == name and r["batch"] == batch
            )
            (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
            if name != "dense":
                ax.plot([p[0] for p in pts], [p[2] for p in pts], ls="--", color=line.get_color(), alpha=0.5)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_title(f"batch {batch}")
        ax.set_xlabel("sequence length")
    from matplotlib.lines import Line2D

    (axes[0] if len(batches) > 1 else axes).set_ylabel("speedup vs ORT-optimized dense")
    last = axes[-1] if len(batches) > 1 else axes
    handles, labels = last.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="--", color="grey", alpha=0.5))
    last.legend(handles, [*labels, "theoretical (FLOPs)"], fontsize=8)
    fig.suptitle(f"{data['name']} — {data['device']}, ORT CUDA EP fp32")
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")  # tight: the y-label is never cut at the figure's edge


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        data = json.loads(path.read_text())
        path.with_suffix(".md").write_text(render_markdown(data))
        render_png(data, path.with_suffix(".png"))
        print(path.with_suffix(".md"), path.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
