"""The table ``acc-export`` prints: profile, target and theoretical speedup, accuracy, agreement, CPU speedup."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

    from .encoder import ExportResult


def render_summary(result: ExportResult) -> Table:
    from rich.table import Table

    largest = max(((c.batch, c.seq) for c in result.latency), default=None)
    speed_header = f"CPU speedup b{largest[0]} s{largest[1]}" if largest else "CPU speedup"
    labelled = result.labelled and any(row.accuracy is not None for row in result.rows)
    table = Table(title=f"bundle {result.bundle}")
    accuracy = [f"{'SST-2 dev' if result.dataset == 'sst2-dev' else result.dataset} acc"] if labelled else []
    for header in (
        "profile",
        "target",
        "theor. @64",
        "theor. @128",
        *accuracy,
        "agree vs torch",
        "max|Δlogits|",
        "index flips",
        speed_header,
    ):
        table.add_column(header, justify="right")
    for row in result.rows:
        accuracy_cell = ["-" if row.accuracy is None else f"{100 * row.accuracy:.2f}%"] if labelled else []
        table.add_row(
            row.profile,
            f"{row.target_speedup:g}x",
            f"{row.theoretical_speedup_64:.2f}x",
            f"{row.theoretical_speedup_128:.2f}x",
            *accuracy_cell,
            f"{100 * row.label_agreement:.2f}%",
            f"{row.max_abs_diff:.1e}",
            f"{100 * row.index_flip_rate:.2f}%",
            "-" if row.cpu_speedup is None else f"{row.cpu_speedup:.2f}x",
        )
    table.caption = f"validated on {result.dataset}" + ("" if labelled else " (no labels: agreement only)")
    if result.failures:
        table.caption = f"[red]written with --allow-mismatch despite {len(result.failures)} failure(s)[/red]"
    return table
