"""``acc-serve``: a bundle behind an HTTP JSON API (``/predict``, ``/health``, ``/metrics``) with dynamic batching."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

from . import cli

EXAMPLES = (
    "acc-serve bundles/bert-sst2 --port 8080",
    "acc-serve bundles/bert-sst2 --device cuda --max-batch 64 --adaptive",
    'curl -s localhost:8080/predict -d \'{"text": "a gorgeous movie .", "min_accuracy": 0.85, "best_effort": true}\'',
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.runtime.serve import ServeOptions

    ServeOptions.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from acc.runtime.serve import ServeOptions, serve

    try:
        serve(ServeOptions.from_args(args))
    except (AccError, argparse.ArgumentTypeError) as exc:
        return cli.fail(exc)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "acc-serve",
        'Serve a bundle over HTTP: POST /predict {"text": ...} or {"texts": [...]} with optional speedup, '
        "latency_budget_ms, min_accuracy, best_effort; GET /health; GET /metrics (Prometheus). Concurrent requests "
        "are batched per profile.",
        EXAMPLES,
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
