"""``acc-bench``: a bundle's graphs vs the optimized dense baseline on ONNX Runtime CPU, one process, interleaved.

``acc-bench --calibrate BUNDLE --device cpu|cuda`` instead measures the latency table the runtime's policy reads and
writes it into the bundle's manifest (``acc.runtime.calibrate``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

from ._console import table_console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.runtime.bench.options import BenchOptions

    BenchOptions.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "calibrate", None) is not None:
        return run_calibrate(args)
    from rich.console import Console

    from acc.runtime.bench import BenchOptions, render_table, run_benchmark

    console = Console(stderr=True)
    try:
        options = BenchOptions.from_args(args)
        result = run_benchmark(options, progress=lambda message: console.log(message) if options.progress else None)
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table_console(160).print(render_table(result.report))
    for path in result.files.as_list():
        print(f"wrote {path}")  # plain print: paths are never wrapped, so scripts can pick them up
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """``--calibrate BUNDLE``: one call of ``acc.runtime.calibrate.calibrate``, then the rows it wrote."""
    from rich.console import Console
    from rich.table import Table

    from acc.runtime.bench.options import CalibrateOptions
    from acc.runtime.calibrate import calibrate

    console = Console(stderr=True)
    try:
        options = CalibrateOptions.from_args(args)
        say = (lambda message: console.log(message)) if options.progress else None
        rows = calibrate(**options.to_kwargs(), progress=say)
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    parser = argparse.ArgumentParser(
        prog="acc-bench",
        description="Time a bundle's profile graphs and adjustable graph against the optimized dense baseline "
        "(torch.onnx + onnxruntime transformer optimizer) on ONNX Runtime CPU; writes JSON, Markdown and PNG. "
        "With --calibrate BUNDLE: measure the bundle's latency table on this machine and store it in its manifest.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
