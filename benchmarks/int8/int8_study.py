"""ACC x INT8 on CPU: which int8 recipe keeps >= 99% label agreement, and how fast it runs against dense fp32 and
dense int8 (what a CPU user picks instead), side by side in one process.

Usage: ``python benchmarks/int8/int8_study.py BUNDLE [--batch 32 --seq 256 --rounds 8 --threads 2]``. For every recipe
(``RECIPES``: per-tensor, per-channel, per-channel with chosen layers float) every profile graph of the fp32 bundle is
quantised with ``acc.exporter.int8`` into a scratch folder (the bundle is not touched), run on all SST-2 dev sentences
through the bundle's tokenizer (batches of 32, padded as ``Runtime.predict`` pads) and compared with its fp32 graph:
accuracy, label agreement. Then every graph of every recipe and the fp32 graphs are timed interleaved at one
(batch, seq) with full-length random tokens (``acc.runtime.timing.measure_interleaved``, paired ratios). Writes
``benchmarks/results/int8-cpu-<model>_<UTC>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from acc.exporter.bench.measure import SessionSettings, latency_stats, paired_speedup
from acc.exporter.int8 import Int8Options
from acc.exporter.precision import INT8, write_variant
from acc.runtime import TextEncoder, read_manifest
from acc.runtime.timing import measure_interleaved

RESULTS = Path(__file__).resolve().parents[1] / "results"


@dataclass(frozen=True)
class Recipe:
    name: str
    options: Int8Options
    note: str


RECIPES = (
    Recipe("per-tensor", Int8Options(per_channel=False), "quantize_dynamic defaults (the issue's probe)"),
    Recipe("per-channel", Int8Options(per_channel=True), "one weight scale per output column"),
    Recipe("per-channel, ffn_out float", Int8Options(per_channel=True, float_nodes=("ffn_out",)),
           "FFN down-projections (input after GELU, widest range) kept float"),
    Recipe("per-channel, layer0 float", Int8Options(per_channel=True, float_nodes=("layer0/",)),
           "the first layer (sees every token, feeds every ACC score) kept float"),
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=8, help="timed rounds (each times every graph once)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import onnxruntime as ort

    from acc.modeling.data import load_sst2

    manifest = read_manifest(args.bundle, verify=True)
    profiles = [(entry.name, manifest.path(entry.graph)) for entry in manifest.profiles]
    settings = SessionSettings(threads=args.threads)
    encoder = TextEncoder(manifest.path(manifest.tokenizer), manifest.model.max_length)
    dev = load_sst2("dev")
    batches = [encoder.encode(dev.texts[i : i + 32]).feeds() for i in range(0, len(dev.texts), 32)]
    labels = np.asarray(dev.labels)

    def session(path: Path) -> Any:
        return ort.InferenceSession(str(path), settings.session_options(), providers=["CPUExecutionProvider"])

    def predict(sess: Any) -> np.ndarray:
        names = {i.name for i in sess.get_inputs()}
        return np.concatenate([sess.run(["logits"], {k: v for k, v in f.items() if k in names})[0].argmax(-1)
                               for f in batches])  # fmt: skip

    graphs: dict[tuple[str, str], Path] = {("fp32", name): path for name, path in profiles}
    rows: list[dict[str, Any]] = []
    fp32_labels = {}
    with tempfile.TemporaryDirectory(prefix="acc-int8-study-") as scratch:
        for name, path in profiles:
            fp32_labels[name] = predict(session(path))
            rows.append(_accuracy_row("fp32", name, fp32_labels[name], fp32_labels[name], labels, 0.0))
        for index, recipe in enumerate(RECIPES):
            folder = Path(scratch) / f"r{index}"
            folder.mkdir()
            for file in sorted({path.name for _, path in profiles} | {"weights.bin"}):  # copies: onnx refuses
                shutil.copyfile(args.bundle / "graphs" / file, folder / file)  # hard-linked external data
            for name, path in profiles:
                start = time.perf_counter()
                variant = write_variant(folder / path.name, INT8, name, recipe.options)
                seconds = time.perf_counter() - start
                graphs[(recipe.name, name)] = variant.path
                predicted = predict(session(variant.path))
                rows.append(_accuracy_row(recipe.name, name, predicted, fp32_labels[name], labels, seconds))
                print(f"{recipe.name:28s} {name:6s} agreement {rows[-1]['label_agreement']:.4f} accuracy "
                      f"{rows[-1]['accuracy']:.4f}", file=sys.stderr, flush=True)  # fmt: skip
        timing = _time(graphs, settings, args.batch, args.seq, args.rounds, encoder.vocab_size)
    report = {
        "kind": "int8-cpu", "utc": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "model": manifest.model.name, "bundle": str(args.bundle), "cpu": _cpu(), "threads": args.threads,
        "load_average_before_timing": timing.pop("load_average"), "onnxruntime": ort.__version__,
        "shape": {"batch": args.batch, "seq": args.seq}, "rounds": args.rounds, "dataset": "sst2-dev",
        "examples": len(labels), "recipes": [{"name": r.name, "options": r.options.to_dict(), "note": r.note}
                                             for r in RECIPES],
        "accuracy": rows, "latency": timing["rows"],
    }  # fmt: skip
    stem = args.out / f"int8-cpu-{manifest.model.name}_{report['utc']}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(report, stem.with_suffix(".png").name))
    plot(report, stem.with_suffix(".png"))
    print(stem.with_suffix(".md").read_text())
    return 0


def _accuracy_row(recipe: str, profile: str, predicted: np.ndarray, fp32: np.ndarray, labels: np.ndarray,
                  seconds: float) -> dict[str, Any]:  # fmt: skip
    return {"recipe": recipe, "profile": profile, "accuracy": float((predicted == labels).mean()),
            "fp32_accuracy": float((fp32 == labels).mean()), "label_agreement": float((predicted == fp32).mean()),
            "quantise_seconds": round(seconds, 2)}  # fmt: skip


def _time(graphs: dict[tuple[str, str], Path], settings: SessionSettings, batch: int, seq: int, rounds: int,
          vocab: int) -> dict[str, Any]:  # fmt: skip
    import onnxruntime as ort

    from acc.runtime.timing import full_length_feeds

    feeds = full_length_feeds(batch, seq, vocab)
    sessions = {key: ort.InferenceSession(str(path), settings.session_options(), providers=["CPUExecutionProvider"])
                for key, path in graphs.items()}  # fmt: skip

    def runner(sess: Any) -> Any:
        names = {i.name for i in sess.get_inputs()}
        mine = {k: v for k, v in feeds.items() if k in names}
        return lambda: sess.run(["logits"], mine)

    load = os.getloadavg()[0]
    labels = {f"{recipe}|{profile}": runner(sess) for (recipe, profile), sess in sessions.items()}
    samples = measure_interleaved(labels, warmup=2, iters=rounds)
    base_fp32 = samples["fp32|dense"]
    rows = []
    for label, values in samples.items():
        recipe, profile = label.split("|")
        dense_same = samples[f"{recipe}|dense"]
        stats = latency_stats(values, 2)
        rows.append({"recipe": recipe, "profile": profile, "p50_ms": stats.p50_ms, "p99_ms": stats.p99_ms,
                     "speedup_vs_dense_fp32": paired_speedup(base_fp32, values),
                     "speedup_vs_dense_same_recipe": paired_speedup(dense_same, values)})  # fmt: skip
    return {"rows": rows, "load_average": load}


def _cpu() -> str:
    from acc.runtime import cpu_name

    return f"{cpu_name()} ({os.cpu_count()} cores visible)"


def markdown(report: dict[str, Any], png: str) -> str:
    acc = {(r["recipe"], r["profile"]): r for r in report["accuracy"]}
    lat = {(r["recipe"], r["profile"]): r for r in report["latency"]}
    profiles = [r["profile"] for r in report["accuracy"] if r["recipe"] == "fp32"]
    recipes = ["fp32"] + [r["name"] for r in report["recipes"]]
    shape = report["shape"]
    lines = [
        f"# ACC x INT8 on CPU: {report['model']} ({report['utc']})", "",
        (f"{report['cpu']}, {report['threads']} ONNX Runtime threads, onnxruntime {report['onnxruntime']}; the machine's "
        f"2 cores were shared with other jobs (load average {report['load_average_before_timing']:.1f} before timing), "
        "so latencies are a floor and the paired ratios the steadier reading. Accuracy and label agreement (vs the "
        f"same profile's fp32 graph) on all {report['examples']} SST-2 dev sentences; latency at batch {shape['batch']}, "
        f"length {shape['seq']} (full-length random tokens), {report['rounds']} interleaved rounds."), "",
        "| recipe | profile | accuracy | Δ vs fp32 (points) | label agreement | p50 ms | vs dense fp32 | vs dense same recipe |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for recipe in recipes:
        for profile in profiles:
            a, t = acc[(recipe, profile)], lat.get((recipe, profile))
            delta = 100 * (a["accuracy"] - a["fp32_accuracy"])
            agree = a["label_agreement"]
            mark = " ✔" if recipe != "fp32" and agree >= 0.99 else ""
            lines.append(f"| {recipe} | {profile} | {100 * a['accuracy']:.2f}% | {delta:+.2f} | {100 * agree:.2f}%{mark} "
                         f"| {t['p50_ms']:.0f} | {t['speedup_vs_dense_fp32']:.2f}x | {t['speedup_vs_dense_same_recipe']:.2f}x |")  # fmt: skip
    lines += ["", "Recipes: " + "; ".join(f"**{r['name']}**: {r['note']}" for r in report["recipes"]) + ".", "",
              f"![int8 study]({png})", ""]  # fmt: skip
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acc = {(r["recipe"], r["profile"]): r for r in report["accuracy"]}
    fig, ax = plt.subplots(figsize=(8, 5))
    for recipe in ["fp32"] + [r["name"] for r in report["recipes"]]:
        rows = [r for r in report["latency"] if r["recipe"] == recipe]
        xs = [r["speedup_vs_dense_fp32"] for r in rows]
        ys = [100 * acc[(recipe, r["profile"])]["accuracy"] for r in rows]
        ax.plot(xs, ys, marker="o", label=recipe)
        for r, x, y in zip(rows, xs, ys):
            ax.annotate(r["profile"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    shape = report["shape"]
    ax.set_xlabel(f"speedup vs dense fp32 (b{shape['batch']} s{shape['seq']}, paired, {report['threads']} threads)")
    ax.set_ylabel(f"SST-2 dev accuracy, % ({report['examples']} sentences)")
    ax.set_title(f"{report['model']}: ACC x INT8 on CPU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
