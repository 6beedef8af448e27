"""``acc-calibrate``: measure a bundle's latency table on this machine and store it in its manifest.

The runtime's policy reads this table for ``latency_budget_ms`` requests. Rows of this backend and device are
replaced, other machines' rows kept; graphs and their sha256s are untouched (``acc.runtime.calibrate``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

from . import cli
from ._console import table_console

EXAMPLES = (
    "acc-calibrate bundles/bert-sst2",
    "acc-calibrate bundles/bert-sst2 --device cuda --batches 1,8,32 --seqs 64,128,256",
    "acc-calibrate bundles/bert-sst2 --device cpu --threads 2 --quiet",
)
RENAMED = {"--no-progress": "--quiet"}


def build_parser() -> argparse.ArgumentParser:
    from acc.runtime.timing_options import CalibrateOptions

    parser = cli.make_parser("acc-calibrate", __doc__.split("\n\n")[0].split(": ", 1)[1], EXAMPLES)
    CalibrateOptions.add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """One call of ``acc.runtime.calibrate.calibrate``, then the rows it wrote."""
    from rich.table import Table

    from acc.runtime.calibrate import calibrate
    from acc.runtime.timing_options import CalibrateOptions

    try:
        options = CalibrateOptions.from_args(args)
        rows = calibrate(**options.to_kwargs(), progress=cli.progress_printer(not options.progress))
    except (AccError, argparse.ArgumentTypeError) as exc:
        return cli.fail(exc)
    first = rows[0]
    table = Table(title=f"latency table · {first['backend']} · {first['device']} · threads {first['threads']}")
    for header in ("profile", "batch", "seq", "p50 ms", "p99 ms"):
        table.add_column(header, justify="left" if header == "profile" else "right")
    for row in rows:
        cells = (str(row["batch"]), str(row["seq"]), f"{row['p50_ms']:.3f}", f"{row['p99_ms']:.3f}")
        table.add_row(row["profile"], *cells)
    table_console(120).print(table)
    print(f"wrote {len(rows)} latency rows into {options.bundle / 'manifest.json'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv, RENAMED))


if __name__ == "__main__":
    sys.exit(main())
