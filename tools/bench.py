"""``acc-bench``: a bundle's graphs vs the optimized dense baseline on ONNX Runtime CPU, one process, interleaved.

The latency table the runtime's policy reads is measured by its own verb, ``acc-calibrate`` (``tools/calibrate.py``);
``acc-bench --calibrate BUNDLE`` still works and says so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

from . import cli
from ._console import table_console
from .export_extra import needs_export_extra

EXAMPLES = (
    "acc-bench bundles/bert-sst2",
    "acc-bench bundles/bert-sst2 --batches 1,8 --seqs 64,128 --iters 10 -o /tmp/results",
    "acc-bench --random-bert-base --speedups 3,4.8     # BERT-base shapes, latency only",
)
RENAMED = {"--output-dir": "--output", "--no-progress": "--quiet"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.runtime.timing_options import BenchOptions

    BenchOptions.add_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "acc-bench",
        "Time a bundle's profile graphs and adjustable graph against the optimized dense baseline (torch.onnx + "
        "onnxruntime transformer optimizer) on ONNX Runtime CPU; writes JSON, Markdown and PNG. To store a latency "
        "table in the bundle, use acc-calibrate.",
        EXAMPLES,
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from acc.exporter.bench import BenchOptions, render_table, run_benchmark

    try:
        options = BenchOptions.from_args(args)
        result = run_benchmark(options, progress=cli.progress_printer(not options.progress))
    except AccError as exc:
        return cli.fail(exc)
    table_console(160).print(render_table(result.report))
    for path in result.files.as_list():
        print(f"wrote {path}")  # plain print: paths are never wrapped, so scripts can pick them up
    return 0


@needs_export_extra("acc-bench")
def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(arg == "--calibrate" or arg.startswith("--calibrate=") for arg in args):
        from . import calibrate

        print("warning: acc-bench --calibrate BUNDLE is deprecated and will be removed; use acc-calibrate BUNDLE",
              file=sys.stderr)  # fmt: skip
        return calibrate.main([arg.removeprefix("--calibrate=") for arg in args if arg != "--calibrate"])
    return run(cli.parse_args(build_parser(), args, RENAMED))


if __name__ == "__main__":
    sys.exit(main())
