"""``acc-eval``: SST-2 accuracy of one model, dense and at each requested speedup, as a table (and JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from acc.profiles import AccError, parse_speedups

from . import cli
from .export_extra import needs_export_extra

EXAMPLES = (
    "acc-eval --model bert-sst2 --speedups 1.5,3,4.8",
    "acc-eval --model ckpt/ --speedups 2,4 --max-examples 200 --device cpu -o eval.json",
)
RENAMED = {"--json": "--output"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="bert-sst2", help="alias, checkpoint dir or hub id")
    parser.add_argument("--speedups", default="1.5,3,4.8", help="speedups beside dense")
    parser.add_argument(
        "--data-dir", default=None, help="SST-2 folder (default: $ACC_DATA_DIR, then the copy shipped in the package)"
    )
    parser.add_argument("--split", default="dev", help="SST-2 split to evaluate")
    parser.add_argument("--max-examples", type=int, default=None, help="evaluate only the first N examples")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per batch")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per example after truncation")
    parser.add_argument("--reference-length", type=int, default=128, help="length at which speedups become profiles")
    cli.add_device(parser, "auto: CUDA when torch sees a GPU, else CPU")
    cli.add_output(parser, "also write the rows as JSON to this file", metavar="OUT.json")
    cli.add_quiet(parser, help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from acc.modeling.evaluate import evaluate, render_table, rows_to_json

    try:
        rows = evaluate(
            args.model,
            parse_speedups(args.speedups),
            data_dir=args.data_dir,
            split=args.split,
            batch_size=args.batch_size,
            max_length=args.max_length,
            max_examples=args.max_examples,
            device=args.device,
            reference_length=args.reference_length,
            progress=not args.quiet,
        )
    except AccError as exc:
        return cli.fail(exc)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(_report(args, rows_to_json(rows)), indent=2) + "\n")
    Console().print(render_table(rows, title=f"{args.model}: SST-2 {args.split}"))
    return 0


def _report(args: argparse.Namespace, rows: list[dict]) -> dict:
    """The JSON file: rows plus the context they were measured in."""
    return {"schema_version": 1, "model": str(args.model), "split": args.split, "device": args.device, "rows": rows}


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "acc-eval", "SST-2 accuracy of an ACC model, dense and at each requested speedup.", EXAMPLES
    )
    add_arguments(parser)
    return parser


@needs_export_extra("acc-eval")
def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv, RENAMED))


if __name__ == "__main__":
    sys.exit(main())
