"""A real acc-bench run on the tiny bundle (batch 1, seq 16, 3 timed rounds), shared by the bench tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from acc.exporter.bench import BenchOptions, BenchResult, run_benchmark

TINY_GRID = {"batches": (1,), "seqs": (16,), "iters": 3, "warmup": 1}


@pytest.fixture(scope="session")
def tiny_bench(
    tiny_export_bundle: Path, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> BenchResult:
    """``source``: the bundle of a local checkpoint records its content hash, not a path, so the bench is told."""
    out = tmp_path_factory.mktemp("bench-results")
    return run_benchmark(BenchOptions(bundle=tiny_export_bundle, source=tiny_checkpoint, output_dir=out, progress=False,
                                      **TINY_GRID))  # fmt: skip
