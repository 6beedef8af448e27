"""``acc-eval``: SST-2 accuracy of one model, dense and at each requested speedup, as a table (and JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from acc.profiles import AccError, parse_speedups


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="bert-sst2", help="alias, checkpoint dir or hub id (default bert-sst2)")
    parser.add_argument("--speedups", default="1.5,3,4.8", help="speedups beside dense (default 1.5,3,4.8)")
    parser.add_argument("--data-dir", default=None, help="SST-2 folder (default: $ACC_DATA_DIR, then the copy shipped in the package)")
    parser.add_argument("--split", default="dev", help="SST-2 split to evaluate (default dev)")
    parser.add_argument("--max-examples", type=int, default=None, help="evaluate only the first N examples")
    parser.add_argument("--batch-size", type=int, default=64, help="examples per batch (default 64)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per example after truncation (default 128)")
    parser.add_argument("--reference-length", type=int, default=128, help="length at which speedups become profiles")
    parser.add_argument("--device", default="auto", help="auto (cuda when available, the default), cpu, cuda or cuda:N")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT.json", help="also write the rows as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


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
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_report(args, rows_to_json(rows)), indent=2) + "\n")
    Console().print(render_table(rows, title=f"{args.model}: SST-2 {args.split}"))
    return 0


def _report(args: argparse.Namespace, rows: list[dict]) -> dict:
    """The JSON file: rows plus the context they were measured in."""
    return {"schema_version": 1, "model": str(args.model), "split": args.split, "device": args.device, "rows": rows}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acc-eval", description="SST-2 accuracy of an ACC model at several speedups.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
