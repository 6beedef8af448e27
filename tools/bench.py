"""``acc-bench``: a bundle's graphs vs the optimized dense baseline on ONNX Runtime CPU, one process, interleaved."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.runtime.bench.options import BenchOptions

    BenchOptions.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from acc.runtime.bench import BenchOptions, render_table, run_benchmark

    console = Console(stderr=True)
    try:
        options = BenchOptions.from_args(args)
        result = run_benchmark(options, progress=lambda message: console.log(message) if options.progress else None)
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Console()
    if not out.is_terminal:  # piped or captured: rich would squeeze the table into 80 columns
        out = Console(width=160)
    out.print(render_table(result.report))
    for path in result.files.as_list():
        print(f"wrote {path}")  # plain print: paths are never wrapped, so scripts can pick them up
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="acc-bench",
        description="Time a bundle's profile graphs and adjustable graph against the optimized dense baseline "
        "(torch.onnx + onnxruntime transformer optimizer) on ONNX Runtime CPU; writes JSON, Markdown and PNG.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
