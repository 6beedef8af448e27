"""Time TensorRT-RTX engine builds ahead of time on this machine (no GPU needed) for every graph of a bundle.

Usage: ``python benchmarks/trt/trt_aot_build.py BUNDLE [--target sm89] [--precisions fp32,fp16]``. Writes
``results/cpu-trt-aot-build_<UTC>.{json,md,png}``: per graph and precision, seconds for the whole chain (inline,
fp16 conversion, parse, build; what ``acc-export --engine trt`` spends), TensorRT's build seconds alone, network
layers and engine size. Engines go to a temp folder (the bundle is not touched). One build at a time, so the
numbers are this machine's, shared cores included: see ``os.getloadavg()`` in the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "results"


def measure(bundle: Path, target_name: str, precisions: tuple[str, ...]) -> dict[str, Any]:
    from acc.exporter.engines import ShapeRanges, build_engines, engine_target, trt_module
    from acc.runtime import read_manifest

    manifest = read_manifest(bundle, verify=False)
    graphs = [p.name for p in manifest.profiles] + (["adjustable"] if manifest.adjustable else [])
    target = engine_target(target_name)
    trt = trt_module()
    shapes = ShapeRanges()
    rows = []
    with tempfile.TemporaryDirectory(prefix="acc-trt-bench-") as scratch:
        staging = Path(scratch)
        shutil.copytree(bundle / "graphs", staging / "graphs")
        for graph in graphs:
            for precision in precisions:
                started = time.perf_counter()
                (record,) = build_engines(staging, [graph], [precision], shapes, target=target)
                total = time.perf_counter() - started
                rows.append({
                    "graph": graph, "precision": precision, "seconds_total": round(total, 2),
                    "build_seconds": round(record.build_seconds or 0.0, 2), "network_layers": record.network_layers,
                    "engine_bytes": (staging / record.file).stat().st_size,
                })  # fmt: skip
                print(f"{graph} {precision}: {total:.1f} s, {rows[-1]['engine_bytes'] / 1e6:.1f} MB", flush=True)
    return {
        "schema_version": 1, "utc": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "machine": platform.machine(),
        "cpus": os.cpu_count(), "loadavg_after": [round(x, 2) for x in os.getloadavg()], "gpu": None,
        "trt_module": trt.__name__, "trt_version": trt.__version__, "target_compute_capability": target.compute_capability,
        "bundle": bundle.name, "model": manifest.model.name, "num_layers": manifest.model.num_layers,
        "hidden_size": manifest.model.hidden_size,
        "shapes": shapes.to_dict(), "engines": rows,
    }  # fmt: skip


def markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# TensorRT-RTX engine builds ahead of time on CPU ({data['utc'][:8]})", "",
        (f"{data['trt_module']} {data['trt_version']}, no GPU, {data['cpus']} CPU cores ({data['machine']}, shared; "
        f"load average after the run {data['loadavg_after'][0]}), bundle `{data['bundle']}`, engines for target "
        f"{data['target_compute_capability']}, shapes batch {data['shapes']['batch']} seq {data['shapes']['seq']} "
        "(min/opt/max). Adjustable graph in its `keep_counts` form. `total s` is the whole chain per engine (inline, "
        "fp16 conversion, parse, build), `build s` TensorRT's build call alone. Recipe: "
        "`python benchmarks/trt/trt_aot_build.py BUNDLE`."), "",
        "| graph | precision | total s | build s | network layers | engine MB |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for row in data["engines"]:
        lines.append(f"| {row['graph']} | {row['precision']} | {row['seconds_total']} | {row['build_seconds']} | "
                     f"{row['network_layers']} | {row['engine_bytes'] / 1e6:.1f} |")  # fmt: skip
    total = sum(row["seconds_total"] for row in data["engines"])
    lines += ["", f"All {len(data['engines'])} engines: {total:.0f} s."]
    return "\n".join(lines) + "\n"


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graphs = list(dict.fromkeys(row["graph"] for row in data["engines"]))
    precisions = list(dict.fromkeys(row["precision"] for row in data["engines"]))
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    width = 0.8 / len(precisions)
    for i, precision in enumerate(precisions):
        rows = {row["graph"]: row for row in data["engines"] if row["precision"] == precision}
        xs = [g + i * width for g in range(len(graphs))]
        axes[0].bar(xs, [rows[g]["seconds_total"] for g in graphs], width, label=precision)
        axes[1].bar(xs, [rows[g]["engine_bytes"] / 1e6 for g in graphs], width, label=precision)
    for axis, title in zip(axes, ("build time per engine, s (whole chain)", "engine size, MB")):
        axis.set_xticks([g + width * (len(precisions) - 1) / 2 for g in range(len(graphs))], graphs)
        axis.set_title(title)
        axis.legend(loc="lower right")
    figure.suptitle(f"TensorRT-RTX {data['trt_version']} ahead of time on {data['cpus']} CPU cores, no GPU "
                    f"({data['bundle']}, target {data['target_compute_capability']})")  # fmt: skip
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--target", default="sm89", help="TensorRT-RTX target compute capability (default sm89)")
    parser.add_argument("--precisions", default="fp32,fp16", help="engine precisions, comma-separated")
    parser.add_argument("--render", action="store_true", help="BUNDLE is a results JSON: rewrite its .md and .png")
    args = parser.parse_args(argv)
    from acc.exporter.engines import parse_precisions
    from acc.profiles import AccError

    if args.render:
        data = json.loads(args.bundle.read_text())
    else:
        try:
            data = measure(args.bundle, args.target, parse_precisions(args.precisions))
        except AccError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    stem = RESULTS / f"cpu-trt-aot-build_{data['utc']}"
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(data))
    plot(data, stem.with_suffix(".png"))
    print(f"wrote {stem}.{{json,md,png}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
