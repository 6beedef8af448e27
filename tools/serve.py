"""``acc-serve``: a bundle behind an HTTP JSON API (``/predict``, ``/health``, ``/metrics``) with dynamic batching."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.runtime.serve import ServeOptions

    ServeOptions.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from acc.runtime.serve import ServeOptions, serve

    try:
        serve(ServeOptions.from_args(args))
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="acc-serve",
        description="Serve a bundle over HTTP: POST /predict {\"text\": ...} or {\"texts\": [...]} with optional "
        "speedup, latency_budget_ms, min_accuracy; GET /health; GET /metrics (Prometheus). Concurrent requests "
        "are batched per profile.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
