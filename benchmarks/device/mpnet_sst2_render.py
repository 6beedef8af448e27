"""Render the base-scale table (issue #19) from an ``mpnet_sst2.sh`` output folder: JSON + Markdown + PNG.

Reads ``accuracy-<run>.json`` (each run's acc_config.json) and ``sha256-<run>.txt``; puts every run's SST-2 dev
accuracy per offline-tuned profile beside the shipped 6-layer ``bert-sst2`` (its acc_config.json) and the targets
(dense >= 92%; drop <= 0.75 points at 1.5x and 3x, <= 1.5 at 4.8x; the paper claims < 0.75 at 4.8x), and says per
target whether it is met. Writes ``benchmarks/results/mpnet-sst2_<UTC>.{json,md,png}`` (``--out`` to change).

    python benchmarks/device/mpnet_sst2_render.py OUT_DIR [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIX_LAYER = ROOT / "modeling" / "zoo" / "bert-sst2" / "acc_config.json"
DENSE_TARGET = 0.92
DROP_TARGETS = {1.5: 0.75, 3.0: 0.75, 4.8: 1.5}  # points of accuracy below the same run's dense model
PAPER_DROP_AT_4_8 = 0.75
OPTIONS = ("model", "epochs", "batch_size", "lr", "seed", "max_length", "s_max", "train_speedup", "amp", "steps",
           "train_time_s", "device_name")  # fmt: skip


def load_run(path: Path) -> dict:
    """One run: name, options that matter, accuracy per target speedup, the checkpoint's sha256 lines."""
    config = json.loads(path.read_text())
    name = path.stem.removeprefix("accuracy-")
    sha = path.with_name(f"sha256-{name}.txt")
    training = config.get("training", {})
    return {
        "run": name,
        "recipe": training.get("mode") or ("single" if training.get("train_speedup") else "sandwich"),
        "options": {key: training.get(key) for key in OPTIONS},
        "accuracy": {f"{row['speedup']:g}": row["accuracy"] for row in config["accuracy"]},
        "examples": config["accuracy"][0].get("examples"),
        "checkpoint_sha256": sha.read_text().split("\n") if sha.exists() else [],
    }


def verdicts(accuracy: dict[str, float]) -> dict[str, dict]:
    """Each target: the measured value, the bound, and whether it is met (None when that profile was not run)."""
    dense = accuracy.get("1")
    percent = None if dense is None else 100 * dense
    out = {"dense>=92%": {"value": percent, "bound": 100 * DENSE_TARGET,
                          "met": None if dense is None else dense >= DENSE_TARGET}}  # fmt: skip
    for speedup, bound in DROP_TARGETS.items():
        value = accuracy.get(f"{speedup:g}")
        drop = None if value is None or dense is None else 100 * (dense - value)
        out[f"drop@{speedup:g}x<={bound}"] = {
            "value": drop,
            "bound": bound,
            "met": None if drop is None else drop <= bound,
        }
    drop = out["drop@4.8x<=1.5"]["value"]
    out["paper: drop@4.8x<0.75"] = {"value": drop, "bound": PAPER_DROP_AT_4_8,
                                    "met": None if drop is None else drop < PAPER_DROP_AT_4_8}  # fmt: skip
    return out


def render(runs: list[dict], six_layer: dict[str, float], stamp: str, out: Path) -> list[Path]:
    speedups = sorted({float(s) for run in runs for s in run["accuracy"]} | {float(s) for s in six_layer})
    columns = [f"{s:g}" for s in speedups]
    rows = [("bert-sst2 (6x384, shipped)", six_layer)] + [
        (f"mpnet-base {r['run']} (12x768)", r["accuracy"]) for r in runs
    ]
    lines = [f"# mpnet-base on SST-2 dev (issue #19), {stamp}", "",
             "| model | " + " | ".join("dense" if c == "1" else f"{c}x" for c in columns) + " |",
             "|---|" + "---|" * len(columns)]  # fmt: skip
    for label, accuracy in rows:
        dense = accuracy.get("1")
        cells = []
        for column in columns:
            value = accuracy.get(column)
            if value is None:
                cells.append("–")
            elif column == "1" or dense is None:
                cells.append(f"{100 * value:.2f}")
            else:
                cells.append(f"{100 * value:.2f} ({100 * (value - dense):+.2f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Targets (drops in points vs the same run's dense model):", ""]
    for run in runs:
        for target, verdict in verdicts(run["accuracy"]).items():
            value = "not run" if verdict["value"] is None else f"{verdict['value']:.2f}"
            mark = {True: "met", False: "missed", None: "–"}[verdict["met"]]
            lines.append(f"- {run['run']}: {target}: {value} → {mark}")
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"mpnet-sst2_{stamp}"
    data = {"schema_version": 1, "created_utc": stamp, "dataset": "sst2-dev", "six_layer": six_layer,
            "runs": [{**run, "verdicts": verdicts(run["accuracy"])} for run in runs]}  # fmt: skip
    base.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    base.with_suffix(".md").write_text("\n".join(lines) + "\n")
    _plot(rows, base.with_suffix(".png"))
    return [base.with_suffix(suffix) for suffix in (".json", ".md", ".png")]


def _plot(rows: list[tuple[str, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    for label, accuracy in rows:
        points = sorted((float(s), 100 * a) for s, a in accuracy.items())
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    axis.set_xlabel("target speedup (encoder FLOPs @128)")
    axis.set_ylabel("SST-2 dev accuracy (%)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the $OUT folder of mpnet_sst2.sh")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    files = sorted(args.results.glob("accuracy-*.json"))
    if not files:
        print(
            f"error: no accuracy-*.json in {args.results}; pass the folder mpnet_sst2.sh wrote ($OUT)", file=sys.stderr
        )
        return 2
    six = {f"{row['speedup']:g}": row["accuracy"] for row in json.loads(SIX_LAYER.read_text())["accuracy"]}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for path in render([load_run(f) for f in files], six, stamp, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
