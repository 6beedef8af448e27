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
    from acc.exporter.families import render_summary  # the summary of whichever family was exported

    from acc.exporter.triton import write_triton_repository

    console = Console(stderr=True)
    try:
        options = ExportOptions.from_args(args)
        say = (lambda message: console.log(message)) if options.progress else None
        if options.from_bundle is not None:  # --from-bundle B --triton DIR: convert, export nothing
            repository = write_triton_repository(options.from_bundle, options.triton, options.triton_options,
                                                 overwrite=options.overwrite, progress=say)  # fmt: skip
            print(f"Triton model repository {repository.path}: " + ", ".join(m.name for m in repository.models))
            return 0
        result = main_export(options, progress=say)
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table_console(160).print(render_summary(result))
    if result.triton is not None:
        print(f"Triton model repository {result.triton} (see its README.md)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="acc-export",
        description="Export an ACC model to a bundle: one ONNX graph per speedup profile. With --triton DIR also "
        "(or, with --from-bundle BUNDLE, only) write a Triton Inference Server model repository.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
