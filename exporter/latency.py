"""Latency measurement of one callable on fixed inputs: warm-up, timed iterations, percentiles.

Shared by the export-time latency table, calibration and ``acc-bench``, so every number in a bundle or a
benchmark file is measured the same way. Numbers are stored as numbers (ms floats), never pre-formatted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Wall-clock latency of one call, in milliseconds."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    iters: int
    warmup: int

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], warmup: int) -> LatencyStats:
        """Percentiles (numpy linear interpolation) of timed samples; one definition for every table and report."""
        values = np.asarray(samples_ms, dtype=np.float64)
        return cls(
            p50_ms=float(np.percentile(values, 50)),
            p90_ms=float(np.percentile(values, 90)),
            p99_ms=float(np.percentile(values, 99)),
            mean_ms=float(values.mean()),
            iters=len(values),
            warmup=warmup,
        )


def measure_latency(
    run: Callable[[], object], warmup: int = 3, iters: int = 20, max_seconds: float | None = None
) -> LatencyStats:
    """Call ``run`` ``warmup`` times untimed, then up to ``iters`` times timed (stopping early past ``max_seconds``).

    The budget keeps export-time tables bounded on slow machines; at least 3 timed calls are always made.
    """
    for _ in range(warmup):
        run()
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(iters):
        t0 = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t0) * 1e3)
        if max_seconds is not None and len(samples) >= 3 and time.perf_counter() - start > max_seconds:
            break
    return LatencyStats.from_samples(samples, warmup)
