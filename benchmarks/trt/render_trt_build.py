"""Render ``benchmarks/device/trt_build.sh``'s ``trt-build.json`` into ``results/h100-trt-build_<UTC>.{json,md,png}``.

Usage: ``python benchmarks/trt/render_trt_build.py <files_at>/trt-build.json``. The table is what each engine build
reports (parsed + built, build seconds, network layers, engine size); the plot shows build time per graph.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# TensorRT-RTX engine builds on an H100 ({data['utc'][:8]})", "",
        f"{data['trt_module']} {data['trt_version']}, GPU {data['gpu']} ({data['device_compute_capability']}), engines "
        f"built for target {data['target_compute_capability']} (TensorRT-RTX has no sm90 target, so they cannot execute "
        "on this GPU: deserialising them is refused). Shapes: batch "
        f"{data['shapes']['batch']}, seq {data['shapes']['seq']} (min/opt/max). The adjustable graph is built in its "
        "`keep_counts` form (TopK widths from a host-computed shape input). Recipe: `benchmarks/device/trt_build.sh`.", "",
        "| graph | precision | parsed + built | build s | network layers | engine MB | note |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for row in data["engines"]:
        if row.get("ok"):
            lines.append(f"| {row['profile']} | {row['precision']} | yes | {row['build_seconds']} | {row['network_layers']} "
                         f"| {row['engine_bytes'] / 1e6:.1f} | |")  # fmt: skip
        else:
            lines.append(f"| {row['profile']} | {row['precision']} | no | - | - | - | {row.get('error', '')[:160]} |")
    return "\n".join(lines) + "\n"


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in data["engines"] if r.get("ok")]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    labels = [f"{r['profile']}\n{r['precision']}" for r in rows]
    ax.bar(
        range(len(rows)),
        [r["build_seconds"] for r in rows],
        color=["C0" if r["precision"] == "fp16" else "C1" for r in rows],
    )
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylabel("build seconds")
    ax.set_title(
        f"TensorRT-RTX {data['trt_version']} builds ({data['target_compute_capability']} target) on {data['gpu']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parents[1] / "results")
    args = parser.parse_args(argv)
    try:
        data = json.loads(args.result.read_text())
        base = args.out_dir / f"h100-trt-build_{data['utc']}"
        base.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
        base.with_suffix(".md").write_text(markdown(data))
        plot(data, base.with_suffix(".png"))
    except (OSError, ValueError, KeyError) as exc:
        print(
            f"error: cannot render {args.result}: {exc}; pass the trt-build.json a trt_build.sh run wrote",
            file=sys.stderr,
        )
        return 2
    print(base.with_suffix(".md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
