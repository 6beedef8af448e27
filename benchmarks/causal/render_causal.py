"""Render ``benchmarks/device/train_causal.py``'s JSON: the offline-tuning curve and the GPU TTFT table.

Usage: python benchmarks/causal/render_causal.py causal-results.json [--out-dir benchmarks/results]

Writes ``causal-<device>_<UTC>.json`` (a copy: the source of truth), ``.md`` and ``.png`` (rendered from the JSON
only, so this script can be rerun later without measuring again).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any


def curve_table(training: dict[str, Any]) -> list[str]:
    ppl = training["perplexity"]
    before = {round(r["speedup"], 4): r for r in ppl["before_acc"]}
    lines = [f"Prompt-prefix perplexity on held-out text ({ppl['after_acc'][0]['windows']} windows: prompt "
             f"P = {ppl['prompt_len']} tokens prefilled under the profile, next C = {ppl['continuation_len']} tokens "
             "scored; docs/causal.md). Profiles offline-tuned at P; one model for every speedup.", "",
             "| target speedup | theoretical @P | keep counts per layer (P tokens) | perplexity, ACC-fine-tuned | Δ vs dense | before ACC fine-tuning |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    dense = ppl["after_acc"][0]["perplexity"]
    for row in ppl["after_acc"]:
        old = before.get(round(row["speedup"], 4))
        lines.append(f"| {row['speedup']:g}x | {row['theoretical_speedup']:.2f}x | {', '.join(map(str, row['keep_counts']))} | "
                     f"**{row['perplexity']:.2f}** | {row['perplexity'] - dense:+.2f} | "
                     f"{'-' if old is None else format(old['perplexity'], '.2f')} |")  # fmt: skip
    return lines


def latency_table(latency: dict[str, Any]) -> list[str]:
    rows = latency["rows"]
    cells = sorted({(r["prompt"], r["batch"]) for r in rows})
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    index = {(r["variant"], r["prompt"], r["batch"]): r for r in rows}
    lines = [f"{latency['shapes']}; {latency['timing']}. TTFT = prefill + first token; speedup vs the Hugging Face "
             "GPT-2 (SDPA, its own KV cache) in the same run; theoretical = FLOPs-model speedup of the profile at that "
             "prompt length.", "",
             "| variant | " + " | ".join(f"prompt {p}, batch {b}: TTFT ms (speedup / theor.)" for p, b in cells) + " |",
             "|---|" + "---|" * len(cells)]  # fmt: skip
    for name in variants:
        parts = []
        for p, b in cells:
            r = index[(name, p, b)]
            parts.append(f"{r['ttft_ms']:.2f} ({r['ttft_speedup_vs_hf']:.2f}x / {r['theoretical_speedup']:.2f}x)")
        lines.append(f"| {name} | " + " | ".join(parts) + " |")
    lines += ["", "Decode after the prefill (greedy, one token per step, the profile's pruned per-layer cache):", "",
              "| variant | " + " | ".join(f"prompt {p}, batch {b}: tokens/s (vs HF)" for p, b in cells)
              + f" | KV entries per layer (prompt {max(p for p, _ in cells)}) |",
              "|---|" + "---|" * (len(cells) + 1)]  # fmt: skip
    longest = max(p for p, _ in cells)
    for name in variants:
        parts = [
            f"{index[(name, p, b)]['decode_tokens_per_s']:.0f} ({index[(name, p, b)]['decode_speedup_vs_hf']:.2f}x)"
            for p, b in cells
        ]
        cache = index[(name, longest, cells[0][1])]["cache_lengths"]
        lines.append(f"| {name} | " + " | ".join(parts) + f" | {', '.join(map(str, cache))} |")
    return lines


def render_markdown(data: dict[str, Any]) -> str:
    training = data["training"]
    phases = ", ".join(
        f"{p['name']} {p['steps']} steps / {p['tokens'] / 1e6:.0f}M tokens / {p['seconds']:.0f} s"
        for p in training["phases"]
    )
    lines = [f"# Causal LM (GPT-2): {data['model']} and GPT-2-small timings on {data['device']}", "",
             f"Model: {data['card']}.", "",
             f"Training: {phases}; "
             f"torch {data['versions']['torch']}, transformers {data['versions']['transformers']}.", "",
             "## Offline-tuning curve: perplexity vs speedup", ""]  # fmt: skip
    lines += curve_table(training)
    if data.get("latency"):
        lines += ["", "## TTFT and decode speed at GPT-2-small shapes (random init: latency only)", ""]
        lines += latency_table(data["latency"])
    if data.get("smoke"):
        lines += ["", "**Smoke run** (CPU, tiny model, a few steps): checks the pipeline, the numbers mean nothing."]
    return "\n".join(lines) + "\n"


def render_png(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latency = data.get("latency") or {"rows": []}
    fig, axes = plt.subplots(1, 2 if latency["rows"] else 1, figsize=(12 if latency["rows"] else 6, 4.5), squeeze=False)
    ax = axes[0][0]
    ppl = data["training"]["perplexity"]
    for key, label, style in (("after_acc", "ACC-fine-tuned", "o-"), ("before_acc", "before ACC fine-tuning", "s--")):
        rows = ppl[key]
        ax.plot([r["theoretical_speedup"] for r in rows], [r["perplexity"] for r in rows], style, label=label)
    ax.set_xlabel(f"theoretical prefill speedup @ P={ppl['prompt_len']}")
    ax.set_ylabel("prompt-prefix perplexity (held-out)")
    ax.set_title(f"{data['model']}: perplexity vs speedup")
    ax.grid(alpha=0.3)
    ax.legend()
    if latency["rows"]:
        ax = axes[0][1]
        cells = sorted({(r["prompt"], r["batch"]) for r in latency["rows"]})
        for p, b in cells:
            rows = [r for r in latency["rows"] if (r["prompt"], r["batch"]) == (p, b) and r["variant"].startswith("s")]
            ax.plot(
                [r["theoretical_speedup"] for r in rows],
                [r["ttft_speedup_vs_hf"] for r in rows],
                "o-",
                label=f"prompt {p}, batch {b}",
            )
        top = max(r["theoretical_speedup"] for r in latency["rows"])
        ax.plot([1, top], [1, top], ":", color="grey", label="= theoretical")
        ax.set_xlabel("theoretical prefill speedup")
        ax.set_ylabel("measured TTFT speedup vs HF GPT-2")
        ax.set_title(f"GPT-2-small shapes on {data['device']}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_latency_png(data: dict[str, Any], path: Path) -> None:
    """Plot of a ``train_causal.py --latency-only`` result: TTFT speedup vs theoretical, eager and fused prefill."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["latency"]["rows"]
    cells = sorted({(r["prompt"], r["batch"]) for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, prefix, title in ((axes[0], "s", "eager prefill (attention probabilities)"),
                              (axes[1], "fused-s", "fused prefill (SDPA lse + Triton score)")):  # fmt: skip
        for p, b in cells:
            pts = sorted((r["theoretical_speedup"], r["ttft_speedup_vs_hf"]) for r in rows
                         if (r["prompt"], r["batch"]) == (p, b) and r["variant"].startswith(prefix)
                         and r["variant"][len(prefix)].isdigit())  # fmt: skip
            ax.plot([x for x, _ in pts], [y for _, y in pts], "o-", label=f"prompt {p}, batch {b}")
        top = max(r["theoretical_speedup"] for r in rows)
        ax.plot([1, top], [1, top], ":", color="grey", label="= theoretical")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_title(title)
        ax.set_xlabel("theoretical prefill speedup")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("TTFT speedup vs Hugging Face GPT-2 (SDPA)")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"GPT-2-small shapes, random init, fp16, {data['device']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path)
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    data = json.loads(args.result.read_text())
    if "training" not in data:  # a --latency-only run: its .md is written on the device; add the plot beside it
        png = args.out_dir / args.result.with_suffix(".png").name
        render_latency_png(data, png)
        print(png)
        return 0
    device = re.sub(r"[^a-z0-9]+", "-", str(data["device"]).lower()).strip("-")
    device = "h100" if "h100" in device else device
    stem = f"causal-{device}{'-smoke' if data.get('smoke') else ''}_{data['created_utc']}"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    target = args.out_dir / f"{stem}.json"
    if args.result.resolve() != target.resolve():
        shutil.copyfile(args.result, target)
    (args.out_dir / f"{stem}.md").write_text(render_markdown(data))
    render_png(data, args.out_dir / f"{stem}.png")
    print(args.out_dir / f"{stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
