"""The table ``acc-export`` prints for a T5 bundle: per profile, accuracy, agreement with PyTorch and CPU speed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

    from .family import Seq2SeqExportResult


def render_seq2seq_summary(result: Seq2SeqExportResult) -> Table:
    from rich.table import Table

    largest = max(((c.batch, c.seq) for c in result.latency), default=None)
    smallest = min(((g.batch, g.seq) for g in result.generation), default=None)
    speed = f"encoder CPU speedup b{largest[0]} s{largest[1]}" if largest else "encoder CPU speedup"
    gen = f"generate ms b{smallest[0]} s{smallest[1]}" if smallest else "generate ms"
    table = Table(title=f"bundle {result.bundle} (T5: encoder graph per profile + decoder step graph)")
    for header in (
        "profile",
        "target",
        "theor. @64",
        "theor. @128",
        f"SST-2 dev acc ({result.template})",
        "same tokens as torch",
        "max|Δlogits|",
        "index flips",
        speed,
        gen,
    ):
        table.add_column(header, justify="right")
    for row in result.rows:
        table.add_row(
            row.profile,
            f"{row.target_speedup:g}x",
            f"{row.theoretical_speedup_64:.2f}x",
            f"{row.theoretical_speedup_128:.2f}x",
            "-" if row.accuracy is None else f"{100 * row.accuracy:.2f}%",
            f"{100 * row.label_agreement:.2f}%",
            f"{row.max_abs_diff:.1e}",
            f"{100 * row.index_flip_rate:.2f}%",
            "-" if row.cpu_speedup is None else f"{row.cpu_speedup:.2f}x",
            "-" if row.generation_ms is None else f"{row.generation_ms:.1f}",
        )
    table.caption = "speedups are encoder FLOPs / encoder graph time; the decoder is shared by every profile"
    if result.failures:
        table.caption += f" — [red]written with --allow-mismatch despite {len(result.failures)} failure(s)[/red]"
    return table
