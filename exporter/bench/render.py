"""Render an acc-bench results JSON as Markdown and PNG, from the JSON alone (so it can be re-run any time).

``render_files(json_path)`` is what acc-bench calls after writing the JSON and what ``benchmarks/latency/render.py`` calls
later; the derived ``.md`` and ``.png`` are replaced, the JSON is only read. matplotlib draws on the Agg canvas
(a bare ``Figure``, no pyplot state) and is imported inside the function that draws.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .records import ADJUSTABLE, BUNDLE_DENSE, PROFILE, BenchReport, BenchRow, ResultFiles


def render_files(json_path: str | os.PathLike[str]) -> ResultFiles:
    """Read ``<stem>.json`` and (re)write ``<stem>.md`` and ``<stem>.png`` beside it."""
    files = ResultFiles.for_stem(Path(json_path).with_suffix(""))
    report = BenchReport.load(files.json)
    files.markdown.write_text(render_markdown(report, png_name=files.png.name), encoding="utf-8")
    render_png(report, files.png)
    return files


# ------------------------------------------------------------------------------------------------------ Markdown


def render_markdown(report: BenchReport, png_name: str | None = None) -> str:
    meta = report.metadata
    lines = [f"# acc-bench: {report.name} ({report.created_utc})", ""]
    if meta.get("latency_only"):
        lines += [f"> **Latency only.** {meta.get('weights', 'random weights')}.", ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in _context(report)]
    lines.append("")
    if png_name:
        lines += [f"![measured vs theoretical speedup]({png_name})", ""]
    lines += [
        "## Speedup vs the optimized dense baseline (p50)",
        "",
        "Columns are `b{batch}_s{seq}`; the theoretical speedup (FLOPs model at that seq) is in brackets.",
        "",
    ]
    lines += _pivot(
        report,
        lambda r: (
            f"{r.speedup_vs_dense:.2f}x"
            + (f" ({r.theoretical_speedup:.2f}x)" if r.kind in (PROFILE, ADJUSTABLE) else "")
        ),
    )
    lines += [
        "",
        "## Paired speedup vs the optimized dense baseline",
        "",
        "Median over timed rounds of baseline / candidate (samples of one round are taken moments apart).",
        "",
    ]
    lines += _pivot(report, lambda r: f"{r.speedup_vs_dense_paired:.2f}x")
    lines += ["", "## Speedup vs the bundle's own dense graph (p50)", ""]
    lines += _pivot(report, lambda r: f"{r.speedup_vs_bundle_dense:.2f}x")
    lines += ["", "## p50 latency (ms)", ""]
    lines += _pivot(report, lambda r: f"{r.p50_ms:.2f}")
    lines += ["", "## All rows", ""]
    header = [
        "candidate",
        "batch",
        "seq",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "seq/s",
        "x vs opt. dense",
        "x vs opt. dense (paired)",
        "x vs bundle dense",
        "theoretical x",
        "measured/theory",
        "iters",
    ]
    lines += [_row(header), _row(["---"] * len(header))]
    for r in report.rows:
        lines.append(
            _row(
                [
                    r.candidate,
                    r.batch,
                    r.seq,
                    f"{r.p50_ms:.3f}",
                    f"{r.p90_ms:.3f}",
                    f"{r.p99_ms:.3f}",
                    f"{r.throughput_seqs_per_s:.1f}",
                    f"{r.speedup_vs_dense:.3f}",
                    f"{r.speedup_vs_dense_paired:.3f}",
                    f"{r.speedup_vs_bundle_dense:.3f}",
                    f"{r.theoretical_speedup:.3f}",
                    f"{r.measured_over_theoretical:.3f}",
                    r.iters,
                ]
            )
        )
    fused = {op: n for op, n in (meta.get("baseline", {}).get("fused_ops") or {}).items() if n}
    lines += ["", "## Dense baseline: fused operators", "", _row(["operator", "count"]), _row(["---", "---"])]
    lines += [_row([op, n]) for op, n in fused.items()]
    lines.append("")
    return "\n".join(lines)


def _context(report: BenchReport) -> list[tuple[str, str]]:
    meta = report.metadata
    model, host, grid = meta.get("model", {}), meta.get("host", {}), meta.get("grid", {})
    session, versions, baseline = meta.get("session", {}), meta.get("versions", {}), meta.get("baseline", {})
    first = report.rows[0] if report.rows else None
    pairs = [
        ("model", f"{model.get('name')} ({model.get('num_layers')} layers x {model.get('hidden_size')}, "
                  f"{model.get('num_heads')} heads); weights: {meta.get('weights')}"),
        ("bundle", f"`{meta.get('bundle', {}).get('path')}`"),
        ("device", f"{host.get('device')}, {first.backend if first else '-'}, {first.precision if first else '-'}, "
                   f"{session.get('threads')} intra-op threads, spinning {'on' if session.get('spinning') else 'off'}"),
        ("versions", ", ".join(f"{k} {v or '-'}" for k, v in versions.items())),
        ("baseline", f"{baseline.get('method')}; attention {baseline.get('attn_implementation')}, "
                     f"max abs diff vs PyTorch {_num(baseline.get('max_abs_diff'))} (atol {_num(baseline.get('atol'))})"),
        ("grid", f"batches {grid.get('batches')}, seqs {grid.get('seqs')}, warmup {grid.get('warmup')}, "
                 f"iters <= {grid.get('iters')}, <= {grid.get('max_seconds_per_cell')} s per cell; {grid.get('inputs')}"),
        ("order", str(meta.get("order"))),
    ]  # fmt: skip
    return [(key, value.replace("|", "/")) for key, value in pairs]


def _pivot(report: BenchReport, cell) -> list[str]:  # noqa: ANN001
    shapes = sorted({(r.batch, r.seq) for r in report.rows})
    by_key = {(r.candidate, r.batch, r.seq): r for r in report.rows}
    lines = [_row(["candidate"] + [f"b{b}_s{s}" for b, s in shapes]), _row(["---"] * (len(shapes) + 1))]
    for candidate in report.candidates:
        values = [cell(by_key[(candidate, b, s)]) if (candidate, b, s) in by_key else "-" for b, s in shapes]
        lines.append(_row([candidate] + values))
    return lines


def _row(values: list[Any]) -> str:
    return "| " + " | ".join(str(v) for v in values) + " |"


def _num(value: Any) -> str:
    return f"{value:.1e}" if isinstance(value, (int, float)) else str(value)


# ----------------------------------------------------------------------------------------------------------- PNG


def render_png(report: BenchReport, path: str | os.PathLike[str]) -> Path:
    """Measured speedup vs seq per profile (solid), theoretical (dashed), one panel per batch."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    batches = report.batches or [1]
    fig = Figure(figsize=(4.6 * len(batches), 4.2))
    axes = fig.subplots(1, len(batches), sharey=True, squeeze=False)
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    profiles = list(dict.fromkeys(r.profile for r in report.rows if r.kind == PROFILE))
    adjustable = list(dict.fromkeys(r.candidate for r in report.rows if r.kind == ADJUSTABLE))
    for ax, batch in zip(axes[0], batches):
        for index, profile in enumerate(profiles):
            colour = colours[index % len(colours)]
            rows = _series(report, batch, lambda r, p=profile: r.kind == PROFILE and r.profile == p)
            _line(ax, rows, "speedup_vs_dense", colour, "-", "o", f"{profile} measured")
            _line(ax, rows, "theoretical_speedup", colour, "--", None, f"{profile} theoretical")
            adj = _series(report, batch, lambda r, p=profile: r.kind == ADJUSTABLE and r.profile == p)
            _line(ax, adj, "speedup_vs_dense", colour, ":", "x", f"adjustable@{profile}" if adjustable else None)
        dense = _series(report, batch, lambda r: r.kind == BUNDLE_DENSE)
        _line(ax, dense, "speedup_vs_dense", "grey", "-", "s", "bundle dense graph")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(report.seqs or [1])
        ax.set_xticklabels([str(s) for s in report.seqs] or ["1"])
        ax.set_title(f"batch {batch}")
        ax.set_xlabel("sequence length (all tokens valid)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("speedup vs optimized dense baseline (p50)")
    axes[0][-1].legend(fontsize=7, loc="best")
    device = report.metadata.get("host", {}).get("device", "")
    suffix = " — LATENCY ONLY (random weights)" if report.metadata.get("latency_only") else ""
    fig.suptitle(f"{report.name} {report.created_utc} · {device}{suffix}", fontsize=10)
    fig.tight_layout()
    target = Path(path)
    fig.savefig(target, dpi=120)  # a bare Figure draws with the Agg canvas: no pyplot, no global backend
    return target


def _series(report: BenchReport, batch: int, keep) -> list[BenchRow]:  # noqa: ANN001
    return sorted((r for r in report.rows if r.batch == batch and keep(r)), key=lambda r: r.seq)


def _line(ax, rows: list[BenchRow], attribute: str, colour: str, style: str, marker: str | None, label: str | None):  # noqa: ANN001, ANN202
    if not rows:
        return
    ax.plot(
        [r.seq for r in rows],
        [getattr(r, attribute) for r in rows],
        linestyle=style,
        marker=marker,
        color=colour,
        label=label,
        linewidth=1.4 if style == "-" else 1.0,
    )
