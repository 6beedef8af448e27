"""``acc-finetune``: fine-tune a BERT on SST-2 (or your TSV/JSONL files) with ACC elimination; write an ACC checkpoint.

Every flag comes from ``FinetuneOptions.add_arguments``, so the CLI and ``acc.modeling.finetune.finetune`` share
one definition of names and defaults.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

from . import cli
from .export_extra import needs_export_extra

EXAMPLES = (
    "acc-finetune --model minilm-l6 -o ckpt/",
    "acc-finetune --model minilm-l6 -o ckpt-s3/ --train-speedup 3 --epochs 2 --device cuda",
    "acc-finetune --model minilm-l6 -o /tmp/smoke --max-train-examples 256 --max-eval-examples 64 --epochs 1",
)
RENAMED = {"--output-dir": "--output"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.modeling.finetune import FinetuneOptions

    FinetuneOptions.add_arguments(parser)
    cli.add_quiet(parser, help="no progress bar or per-epoch lines")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from acc.modeling.evaluate import render_table
    from acc.modeling.finetune import FinetuneOptions, finetune

    try:
        result = finetune(FinetuneOptions.from_args(args), progress=not args.quiet)
    except AccError as exc:
        return cli.fail(exc)
    per_step = result.train_time_s / max(result.steps, 1)
    title = f"{result.output_dir}  ({result.steps} steps, {result.train_time_s:.1f} s, {per_step:.3f} s/step)"
    Console().print(render_table(result.rows, title=title))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "acc-finetune",
        "Fine-tune with ACC token elimination (sandwich rule by default, or --train-speedup S) on SST-2 or on "
        "--train-file/--eval-file (text, optional text_pair, label: classes or a regression score) and write an "
        "ACC checkpoint.",
        EXAMPLES,
    )
    add_arguments(parser)
    return parser


@needs_export_extra("acc-finetune")
def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv, RENAMED))


if __name__ == "__main__":
    sys.exit(main())
