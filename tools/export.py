"""``acc-export``: one ONNX graph per speedup profile (plus the adjustable graph), validated, timed and bundled."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

from ._console import table_console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.exporter.options import ExportOptions

    ExportOptions.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from acc.exporter.options import ExportOptions
    from acc.exporter.pipeline import main_export
    from acc.exporter.summary import render_summary

    console = Console(stderr=True)
    try:
        options = ExportOptions.from_args(args)
        result = main_export(options, progress=lambda message: console.log(message) if options.progress else None)
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table_console(160).print(render_summary(result))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="acc-export", description="Export an ACC model to a bundle: one ONNX graph per speedup profile."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
