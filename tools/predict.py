"""``acc-predict BUNDLE FILE``: classify every text of a .txt/.tsv/.jsonl file (or stdin) into JSONL or TSV."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack

from acc.profiles import AccError

from . import cli

EXAMPLES = (
    "acc-predict bundles/bert-sst2 texts.txt -o out.jsonl --speedup 3",
    "acc-predict bundles/bert-sst2 reviews.tsv -o out.tsv --min-accuracy 0.85 --quiet",
    "acc-predict bundles/bert-sst2 - --precision int8 < texts.txt     # stdin",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_bundle(parser)
    parser.add_argument("file", nargs="?", default="-", help="texts: .txt (one per line), .tsv (with a header) or "
                        ".jsonl ({\"text\": ...} per line); - or nothing for stdin")  # fmt: skip
    cli.add_output(parser, "result file, .jsonl or .tsv (default: JSONL to stdout)")
    parser.add_argument(
        "--format",
        default=None,
        choices=("txt", "tsv", "jsonl"),
        help="input format (default: from the file's extension; stdin: txt)",
    )
    parser.add_argument(
        "--output-format",
        default=None,
        choices=("jsonl", "tsv"),
        help="output format (default: from --output's extension, else jsonl)",
    )
    parser.add_argument(
        "--text-column",
        default=None,
        help="TSV column / JSONL key holding the text (default: sentence, text or content / text)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="texts per graph run")
    parser.add_argument("--speedup", type=float, default=None, help="run the profile with this target speedup")
    parser.add_argument(
        "--latency-budget-ms",
        type=float,
        default=None,
        help="the most accurate profile whose measured p99 for a batch fits this budget",
    )
    parser.add_argument(
        "--min-accuracy",
        type=float,
        default=None,
        help="the fastest profile with at least this accuracy (a fraction, e.g. 0.85)",
    )
    parser.add_argument(
        "--best-effort", action="store_true", help="take the closest profile when no profile meets the constraint"
    )
    parser.add_argument(
        "--no-truncate",
        dest="truncate",
        action="store_false",
        help="fail on a text longer than the model's max_length instead of cutting it",
    )
    cli.add_device(parser, "where the graphs run")
    cli.add_backend(parser)
    parser.add_argument("--precision", default="auto", help="graph precision: auto, fp32, fp16, int8 (if exported)")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    cli.add_quiet(parser, help="no progress bar and no summary line")


def run(args: argparse.Namespace) -> int:
    from acc.runtime import RequestOptions, Runtime
    from acc.runtime.batch_predict import (
        ResultWriter,
        count_lines,
        describe_options,
        input_format,
        open_input,
        output_format,
        predict_rows,
        read_rows,
    )

    try:
        fmt_in = input_format(args.file, args.format)
        output_path = None if args.output is None else str(args.output)  # "-": stdout
        fmt_out = output_format(output_path, args.output_format)
        options = RequestOptions(speedup=args.speedup, latency_budget_ms=args.latency_budget_ms,
                                 min_accuracy=args.min_accuracy, best_effort=args.best_effort,
                                 truncate=args.truncate)  # fmt: skip
        with ExitStack() as stack:
            stream = stack.enter_context(open_input(args.file))
            runtime = Runtime.load(args.bundle, device=cli.select_gpu(args.device), threads=args.threads,
                                   precision=args.precision, backend=args.backend)  # fmt: skip
            output = sys.stdout if output_path in (None, "-") else stack.enter_context(
                open(output_path, "w", encoding="utf-8"))  # fmt: skip
            rows = read_rows(stream, fmt_in, args.file, args.text_column)
            total = None if args.quiet else count_lines(args.file, header=fmt_in == "tsv")
            summary = predict_rows(runtime, rows, ResultWriter(output, fmt_out), options, args.batch_size,
                                   progress=not args.quiet, total=total)  # fmt: skip
    except AccError as exc:
        return cli.fail(exc)
    except OSError as exc:
        print(f"error: cannot write {args.output} ({exc.strerror or exc}); pass a writable -o path", file=sys.stderr)
        return 2
    if not args.quiet:
        constraints = ", ".join(describe_options(options)) or "auto"
        print(f"acc-predict: {summary.line()} [{constraints}, {runtime.backend}, {runtime.precision}]", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "acc-predict",
        "Classify a file of texts with a bundle, in batches: one JSONL/TSV row per text with label, score and "
        "profile; the same speedup / latency budget / accuracy floor options as the runtime.",
        EXAMPLES,
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
