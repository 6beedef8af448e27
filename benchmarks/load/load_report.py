"""Render a load-test results JSON (benchmarks/load/load_test.py) as Markdown and PNG, from the JSON alone.

    python benchmarks/load/load_report.py benchmarks/results/load-cpu-bert-sst2_<UTC>.json [more.json ...]

The JSON is the source of truth and is only read; ``<stem>.md`` and ``<stem>.png`` are replaced (each written to a
temporary file, then renamed). matplotlib draws on a bare Agg ``Figure`` (no pyplot state).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def render(json_path: Path) -> tuple[Path, Path]:
    """(Re)write ``<stem>.md`` and ``<stem>.png`` from ``<stem>.json`` alone."""
    report = json.loads(Path(json_path).read_text())
    md, png = json_path.with_suffix(".md"), json_path.with_suffix(".png")
    _atomic_write(md, lambda tmp: tmp.write_text(markdown(report, png.name), encoding="utf-8"))
    _atomic_write(png, lambda tmp: plot(report, tmp))
    return md, png


def markdown(report: dict[str, Any], png_name: str) -> str:
    cfg, checks, res, host = report["config"], report["checks"], report["results"], report["host"]
    verdict = "PASSED" if checks["passed"] else "FAILED"
    lines = [f"# acc-serve load test: {report['server']['model']} ({report['created_utc']}) — {verdict}", ""]
    if cfg.get("note"):
        lines += [f"> {cfg['note']}", ""]
    lines += ["| | |", "|---|---|",
              f"| load | {cfg['clients']} clients x {cfg['requests_per_client']} requests = {cfg['total_requests']}, "
              f"one text each, mix {', '.join(cfg['mix'])} ({cfg['distinct_texts']} SST-2 dev sentences) |",
              f"| server | `acc-serve {' '.join(report['server']['argv'])}` ({report['server']['backend']}) |",
              f"| host | {host['cpu']}, {host['logical_cpus']} logical CPUs, {host['platform']}; 1-min load average "
              f"during the load {_load(host)} |",
              f"| versions | {', '.join(f'{k} {v}' for k, v in report['versions'].items())} |",
              f"| throughput | **{res['throughput_rps']:.1f} req/s** over {res['wall_s']:.1f} s |",
              f"| errors / lost / duplicated | {checks['errors']} / {checks['lost']} / {checks['duplicates']} |",
              f"| server counted | {checks['server_requests']} of {checks['requests']} requests; exit code "
              f"{checks['server_exit_code']} after Ctrl-C |",
              f"| equal to single-request runs | {checks['answered'] - checks['errors'] - checks['mismatches']} of "
              f"{checks['answered'] - checks['errors']} (same profile and label, max abs prob diff "
              f"{checks['max_abs_prob_diff']:.2g}, atol {checks['atol']:g}) |", "",
              f"![latency histogram and throughput]({png_name})", "",
              "## Client-side latency per profile (ms, send to full response)", "",
              "| profile | asks | requests | p50 | p95 | p99 | max | graph run mean | queue mean | batch mean |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    rows = res["per_profile"] + ([{"profile": "**all**", "asks": {}, **res["overall"]}] if res["overall"] else [])
    for row in rows:
        asks = ", ".join(f"{k} x{v}" for k, v in row["asks"].items()) or "-"
        extra = [f"{row[k]:.2f}" if k in row else "-" for k in ("server_latency_ms_mean", "queue_ms_mean",
                                                                  "batch_size_mean")]  # fmt: skip
        lines.append(f"| {row['profile']} | {asks} | {row['count']} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | "
                     f"{row['p99_ms']:.1f} | {row['max_ms']:.1f} | " + " | ".join(extra) + " |")  # fmt: skip
    if checks["error_examples"] or checks["mismatch_examples"]:
        lines += ["", "## Failures (first few)", "", "```json",
                  json.dumps(checks["error_examples"] + checks["mismatch_examples"], indent=1), "```"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _load(host: dict[str, Any]) -> str:
    load = host.get("load_average_1min") or {}
    return f"mean {load['mean']:.1f}, max {load['max']:.1f}" if load.get("samples") else "-"


def plot(report: dict[str, Any], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    res = report["results"]
    edges = np.asarray(res["histogram_edges_ms"])
    figure = Figure(figsize=(12, 4.5))
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    for row in res["per_profile"]:
        left.stairs(row["histogram"], edges, label=f"{row['profile']} (p99 {row['p99_ms']:.0f} ms)")
    used = np.nonzero(np.sum([row["histogram"] for row in res["per_profile"]] or [[0] * (len(edges) - 1)], axis=0))[0]
    if used.size:
        left.set_xlim(edges[used[0]], edges[used[-1] + 1])
    left.set(xscale="log", xlabel="client-side latency (ms)", ylabel="requests", title="Latency per profile")
    left.legend(fontsize=8)
    timeline = res["completed_per_second"]
    right.bar(np.arange(len(timeline)), timeline, width=1.0, align="edge", alpha=0.6, label="answers in that second")
    right.axhline(res["throughput_rps"], linestyle="--", color="gray", label=f"mean {res['throughput_rps']:.0f} req/s")
    right.set(xlabel="seconds into the load", ylabel="answers per second", title="Throughput", ylim=(0, None))
    right.legend(fontsize=8)
    cfg = report["config"]
    figure.suptitle(f"acc-serve {report['server']['model']}: {cfg['clients']} clients x {cfg['requests_per_client']} "
                    f"requests on {report['host']['cpu']}", fontsize=10)  # fmt: skip
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate <stem>.md and <stem>.png from load_test's <stem>.json.")
    parser.add_argument("results", nargs="+", type=Path, help="results JSON file(s) written by load_test.py")
    args = parser.parse_args(argv)
    for path in args.results:
        try:
            md, png = render(path)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: cannot render {path} ({type(exc).__name__}: {exc}); pass a JSON written by load_test.py",
                  file=sys.stderr)  # fmt: skip
            return 2
        print(f"wrote {md} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
