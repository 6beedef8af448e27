"""The table ``acc-export`` prints for a causal bundle: profile, speedups, agreement with PyTorch, CPU TTFT speedup."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

    from .family import CausalExportResult


def render_causal_summary(result: CausalExportResult) -> Table:
    from rich.table import Table

    largest = max(((c.batch, c.seq) for c in result.latency), default=None)
    speed_header = f"CPU TTFT speedup b{largest[0]} s{largest[1]}" if largest else "CPU TTFT speedup"
    table = Table(title=f"bundle {result.bundle} (causal LM: prefill graphs + decode graph)")
    for header in ("profile", "target", "theor. @128", "theor. @512", "next-token agree", "greedy identical",
                   "max|Δlogits|", "cache-length errors", speed_header):  # fmt: skip
        table.add_column(header, justify="right")
    for row in result.rows:
        table.add_row(
            row.profile,
            f"{row.target_speedup:g}x",
            f"{row.theoretical_speedup_128:.2f}x",
            f"{row.theoretical_speedup_512:.2f}x",
            f"{100 * row.token_agreement:.2f}%",
            f"{100 * row.greedy_identical:.1f}%",
            f"{row.max_abs_diff:.1e}",
            str(row.cache_length_errors),
            "-" if row.cpu_ttft_speedup is None else f"{row.cpu_ttft_speedup:.2f}x",
        )
    if result.failures:
        table.caption = f"[red]written with --allow-mismatch despite {len(result.failures)} failure(s)[/red]"
    return table
