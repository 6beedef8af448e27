"""Timing shared by export-time tables, ``acc-calibrate`` and ``acc-bench``: the same inputs, the same loop.

Full-length feeds (every token valid) give a profile's worst case at a length. ``measure_interleaved`` times several
runs round-robin so machine drift spreads evenly over them. numpy only: calibration runs where the bundle is served.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np

from acc.profiles import DataError

MIN_TIMED_ROUNDS = 3
_ID_LOW, _ID_HIGH = 1000, 30000  # token ids of ordinary WordPiece words


def full_length_feeds(batch: int, seq: int, vocab_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """int64 ``[batch, seq]`` feeds with every token valid; one recipe for every latency table."""
    rng = np.random.default_rng(seed)
    low, high = (_ID_LOW, min(vocab_size, _ID_HIGH)) if vocab_size > _ID_LOW + 1 else (0, vocab_size)
    ids = rng.integers(low, high, size=(batch, seq)).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def measure_interleaved(
    runs: Mapping[str, Callable[[], object]],
    warmup: int = 3,
    iters: int = 20,
    max_seconds: float | None = None,
    on_round: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Time ``runs`` round-robin; returns each run's timed samples in ms, ``samples[label][r]`` from round ``r``.

    ``warmup`` untimed rounds, then up to ``iters`` timed rounds. Each round calls every run once, starting one
    further along the list than the round before. Timed rounds stop early once ``max_seconds`` of timed rounds have
    passed, but never before ``MIN_TIMED_ROUNDS`` (or ``iters`` when smaller), so every run gets the same number of
    samples and sample ``r`` of two runs were taken moments apart (see :func:`paired_speedup`).
    """
    if iters < 1 or warmup < 0:
        raise DataError(f"iters must be >= 1 and warmup >= 0, got iters={iters}, warmup={warmup}")
    labels = list(runs)
    samples: dict[str, list[float]] = {label: [] for label in labels}
    for round_index in range(warmup):
        for label in _rotated(labels, round_index):
            runs[label]()
    start = time.perf_counter()
    for round_index in range(iters):
        for label in _rotated(labels, round_index):
            t0 = time.perf_counter()
            runs[label]()
            samples[label].append((time.perf_counter() - t0) * 1e3)
        if on_round is not None:
            on_round(round_index + 1)
        done = round_index + 1
        if (
            max_seconds is not None
            and done >= min(MIN_TIMED_ROUNDS, iters)
            and time.perf_counter() - start > max_seconds
        ):
            break
    return samples


def _rotated(labels: list[str], shift: int) -> list[str]:
    shift %= len(labels)
    return labels[shift:] + labels[:shift]
