"""``acc-export``: one ONNX graph per speedup profile (plus the adjustable graph), validated, timed and bundled."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

from . import cli
from ._console import table_console

EXAMPLES = (
    "acc-export --model bert-sst2 --speedups 1.5,3,4.8",
    "acc-export --model bert-sst2 --max-examples 64 --no-bench -o /tmp/bert-sst2 --overwrite",
    "acc-export --model gpt2-mini --speedups 1.5,3,3.72 --reference-length 512",
    "acc-export bundles/bert-sst2 --triton triton_repo     # Triton repository from an existing bundle",
)
RENAMED = {"--from-bundle": "", "--no-progress": "--quiet"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.exporter.options import ExportOptions

    ExportOptions.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from acc.exporter.families import (
        render_summary,  # the summary of whichever family was exported
    )
    from acc.exporter.options import ExportOptions
    from acc.exporter.pipeline import main_export
    from acc.exporter.triton import write_triton_repository

    try:
        options = ExportOptions.from_args(args)
        say = cli.progress_printer(quiet=not options.progress)
        if options.from_bundle is not None:  # acc-export BUNDLE --triton DIR: convert, export nothing
            repository = write_triton_repository(options.from_bundle, options.triton, options.triton_options,
                                                 overwrite=options.overwrite, progress=say)  # fmt: skip
            print(f"Triton model repository {repository.path}: " + ", ".join(m.name for m in repository.models))
            return 0
        result = main_export(options, progress=say)
    except AccError as exc:
        return cli.fail(exc)
    table_console(160).print(render_summary(result))
    if result.triton is not None:
        print(f"Triton model repository {result.triton} (see its README.md)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "acc-export",
        "Export an ACC model to a bundle: one ONNX graph per speedup profile plus the adjustable graph, validated "
        "against PyTorch, timed and hashed. With --triton DIR also write a Triton Inference Server model repository "
        "(or, given an existing BUNDLE, only that).",
        EXAMPLES,
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv, RENAMED))


if __name__ == "__main__":
    sys.exit(main())
