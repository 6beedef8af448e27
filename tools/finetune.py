"""``acc-finetune``: fine-tune a BERT on SST-2 (or your TSV/JSONL files) with ACC elimination; write an ACC checkpoint.

Every flag comes from ``FinetuneOptions.add_arguments``, so the CLI and ``acc.modeling.finetune.finetune`` share
one definition of names and defaults.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.modeling.finetune import FinetuneOptions

    FinetuneOptions.add_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from acc.modeling.evaluate import render_table
    from acc.modeling.finetune import FinetuneOptions, finetune

    try:
        result = finetune(FinetuneOptions.from_args(args), progress=not args.quiet)
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    per_step = result.train_time_s / max(result.steps, 1)
    title = f"{result.output_dir}  ({result.steps} steps, {result.train_time_s:.1f} s, {per_step:.3f} s/step)"
    Console().print(render_table(result.rows, title=title))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="acc-finetune",
        description="Fine-tune with ACC token elimination (sandwich rule by default, or --train-speedup S) on SST-2 "
        "or on --train-file/--eval-file (text, optional text_pair, label: classes or a regression score).",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
