"""The console the CLI tables print to."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def table_console(width: int) -> Console:
    """stdout console; when piped or captured (CI logs), at least ``width`` columns.

    Without a terminal rich assumes 80 columns and cuts wide tables' numbers with "…".
    """
    from rich.console import Console

    out = Console()
    return out if out.is_terminal else Console(width=max(out.width, width))
