"""The rich table acc-bench prints: one line per candidate and shape, sections per batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .records import ADJUSTABLE, PROFILE, BenchReport

if TYPE_CHECKING:
    from rich.table import Table


def render_table(report: BenchReport) -> Table:
    from rich.table import Table

    meta = report.metadata
    session = meta.get("session", {})
    versions = meta.get("versions", {})
    title = (
        f"{report.name} · {meta.get('host', {}).get('device')} · {session.get('threads')} threads · "
        f"onnxruntime {versions.get('onnxruntime')}"
    )
    table = Table(title=title)
    # Short headers: the caption explains them, and the table must stay readable at 100 columns.
    width = max((len(row.candidate) for row in report.rows), default=9)
    table.add_column("b", justify="right")
    table.add_column("seq", justify="right")
    table.add_column("candidate", no_wrap=True, min_width=width)
    for header in ("p50 ms", "p99 ms", "seq/s", "vs base", "vs own", "theory", "meas/th", "n"):
        table.add_column(header, justify="right", no_wrap=True)
    previous_batch = None
    for row in sorted(report.rows, key=lambda r: (r.batch, r.seq)):
        if previous_batch is not None and row.batch != previous_batch:
            table.add_section()
        previous_batch = row.batch
        pruned = row.kind in (PROFILE, ADJUSTABLE)
        table.add_row(
            str(row.batch), str(row.seq), row.candidate, f"{row.p50_ms:.2f}", f"{row.p99_ms:.2f}",
            f"{row.throughput_seqs_per_s:.0f}", f"{row.speedup_vs_dense:.2f}x", f"{row.speedup_vs_bundle_dense:.2f}x",
            f"{row.theoretical_speedup:.2f}x" if pruned else "-",
            f"{row.measured_over_theoretical:.2f}" if pruned else "-", str(row.iters),
        )  # fmt: skip
    fused = {op: n for op, n in (meta.get("baseline", {}).get("fused_ops") or {}).items() if n}
    caption = (
        f"vs base: speedup over the optimized dense baseline ({meta.get('baseline', {}).get('method')}; "
        f"fused {fused}); vs own: over the bundle's dense graph; theory: FLOPs-model speedup at that seq; "
        "meas/th: vs base / theory; n: timed rounds"
    )
    if meta.get("latency_only"):
        caption = f"[yellow]LATENCY ONLY: {meta.get('weights')}[/yellow]\n" + caption
    table.caption = caption
    return table
