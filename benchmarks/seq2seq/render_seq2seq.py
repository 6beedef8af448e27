"""Render ``benchmarks/device/train_seq2seq.py``'s JSON: T5 accuracy vs speedup per prompt template.

Usage: python benchmarks/seq2seq/render_seq2seq.py seq2seq-train.json [--out-dir benchmarks/results]

Writes ``seq2seq-<device>_<UTC>.json`` (a copy: the source of truth), ``.md`` (tables) and ``.png`` (curves),
the last two rendered from the JSON only, so this script can be rerun later without training again.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _templates(rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    return list(dict.fromkeys((r["template"], bool(r["held_out"])) for r in rows))


def _profiles(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(row["profile"], row)
    return sorted(seen.values(), key=lambda r: r["target_speedup"])


def accuracy_table(rows: list[dict[str, Any]], key: str, title: str) -> list[str]:
    templates = _templates(rows)
    index = {(r["template"], r["profile"]): r for r in rows}
    head = " | ".join(f"{name}{' (held out)' if held else ''}" for name, held in templates)
    lines = [title, "", f"| profile | keep ratios per layer | theor. @64 | @128 | kept | {head} |",
             "|---|---|---|---|---|" + "---|" * len(templates)]  # fmt: skip
    for profile in _profiles(rows):
        cells = []
        for name, _ in templates:
            row, dense = index[(name, profile["profile"])], index[(name, "dense")]
            value, base = row[key], dense[key]
            if value is None:
                cells.append("-")
                continue
            delta = "" if row["profile"] == "dense" else f" ({100 * (value - base):+.1f})"
            valid = f", valid {100 * row['valid_fraction']:.0f}%" if key == "accuracy" else ""
            cells.append(f"{100 * value:.2f}%{delta}{valid}")
        kept = sum(index[(name, profile["profile"])]["kept_fraction"] for name, _ in templates) / len(templates)
        ratios = ", ".join(f"{r:.2g}" for r in profile["keep_ratios"])
        lines.append(f"| {profile['profile']} | {ratios} | {profile['theoretical_speedup_64']:.2f}x | "
                     f"{profile['theoretical_speedup_128']:.2f}x | {100 * kept:.0f}% | " + " | ".join(cells) + " |")  # fmt: skip
    return lines


def render_markdown(data: dict[str, Any]) -> str:
    card = data["model_card"]
    phases = "; ".join(f"{p['name']} {p['steps']} steps, {p['examples']:,} sequences, {p['seconds']:.0f} s"
                       for p in data["phases"])  # fmt: skip
    held = data.get("pretrain_heldout") or {}
    rows = data["rows"]
    lines = [
        f"# Seq2seq (T5): accuracy vs speedup per prompt template, on {data['device']}", "",
        f"Model: {card['summary']}", "",
        f"Architecture: {card['architecture']}, {card['num_layers']} encoder + {card['num_decoder_layers']} decoder "
        f"layers, d_model {card['d_model']}, {card['num_heads']} heads x d_kv {card['d_kv']}, d_ff {card['d_ff']} "
        f"({card['feed_forward_proj']}), vocabulary {card['vocab_size']:,}, {card['parameters']:,} parameters.", "",
        f"Training: {phases}; wall time of the whole run {data['wall_s']:.0f} s."
        + (f" Span-corruption loss on held-out corpus documents {held['loss']:.3f} (target-token accuracy "
           f"{100 * held['token_accuracy']:.1f}%)." if held else ""), "",
        "SST-2 dev (872 sentences, or the slice evaluated). The model *generates* its answer greedily; "
        "**accuracy** = the generated tokens are exactly the label word (`negative` / `positive`) and `</s>`; "
        "*valid* = the answer is one of the two words at all. Speedups are theoretical **encoder** FLOPs ratios "
        "(docs/METHOD.md#3-flops-model with T5's widths; the decoder is not counted) at 64 / 128 tokens; "
        "*kept* = word-vectors entering each encoder layer over the prompt length, averaged over layers, prompts and "
        "templates. One model, profiles by offline-tuning only. Δ in points against the same template's dense row.", "",
    ]  # fmt: skip
    lines += accuracy_table(rows, "accuracy", "## Generated answer accuracy")
    lines += [""] + accuracy_table(
        rows, "constrained_accuracy", "## Rank classification (argmax over the two label words' first tokens)"
    )
    if data.get("smoke"):
        lines += [
            "",
            "**Smoke run** (CPU, tiny model, seconds of training): checks the pipeline, the numbers mean nothing.",
        ]
    return "\n".join(lines) + "\n"


def render_png(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    panels = [("accuracy", "generated answer"), ("constrained_accuracy", "rank classification")]
    same = all(r["accuracy"] == r["constrained_accuracy"] for r in rows)
    if same:  # two identical panels would look like a plotting bug: draw one and say why
        panels = [
            ("accuracy", "generated answer\n(= rank classification: every answer was one of the two label words)")
        ]
    figure, axes = plt.subplots(1, len(panels), figsize=(7 if same else 12, 4.8), sharey=True, squeeze=False)
    axes = axes[0]
    for axis, (key, title) in zip(axes, panels):
        for name, held in _templates(rows):
            own = sorted(
                (r for r in rows if r["template"] == name and r[key] is not None), key=lambda r: r["target_speedup"]
            )
            axis.plot([r["theoretical_speedup_128"] for r in own], [100 * r[key] for r in own],
                      linestyle="--" if held else "-", marker="o", label=f"{name}{' (held out)' if held else ''}")  # fmt: skip
        axis.set_title(f"T5 on SST-2 dev: {title}", fontsize=10)
        axis.set_xlabel("theoretical encoder speedup @128 tokens")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="seq2seq-train.json from benchmarks/device/train_seq2seq.py")
    parser.add_argument("--out-dir", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    data = json.loads(args.results.read_text())
    if data.get("kind") != "seq2seq-train":
        print(
            f"error: {args.results} is not a train_seq2seq.py results file (kind {data.get('kind')!r})", file=sys.stderr
        )
        return 2
    device = re.sub(r"[^a-z0-9]+", "-", data["device"].lower()).strip("-")
    device = "h100" if "h100" in device else ("h200" if "h200" in device else device)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%MZ")
    stem = args.out_dir / f"seq2seq-{'smoke-' if data.get('smoke') else ''}{device}_{stamp}"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.results, stem.with_suffix(".json"))
    stem.with_suffix(".md").write_text(render_markdown(data))
    render_png(data, stem.with_suffix(".png"))
    print(f"wrote {stem}.json, .md and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
