"""Calibration: measure a bundle's latency table on the machine that will serve it and write it into the manifest.

Why: the export-time table was measured on the exporting machine; ``latency_budget_ms`` requests are only as good
as the rows of *this* device. Rows are keyed by (backend, device name) exactly as :class:`~acc.runtime.Runtime`
looks them up (``ort-cpu`` + CPU model, ``ort-cuda`` + GPU name), so a bundle carries one table per machine it was
calibrated on; re-calibrating replaces that machine's rows and keeps every other machine's.

Each profile graph runs through the same ``OrtBackend`` the runtime serves with (same session options, all outputs
fetched), on full-length inputs (every token valid: a profile's worst case at that length). Cells are timed one
profile after another, warm-up first, so a previous session's spinning ORT threads are absorbed by the warm-up.
Nothing is written until every cell is measured; the manifest is then swapped in atomically by
``update_manifest_tables`` (graph files and their sha256s are untouched, ``manifest.json`` is not a listed file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from acc.profiles import BundleError, DataError

from .bundle_format import LatencyRow, Manifest
from .device_names import device_name
from .inputs import TextEncoder
from .manifest import read_manifest, update_manifest_tables
from .session import Backend, BackendError, OrtBackend, resolve_device
from .timing import full_length_feeds, measure_interleaved

DEFAULT_BATCHES = (1, 8, 32)
DEFAULT_SEQS = (32, 64, 128, 256)
BACKENDS = ("auto", "ort")


def calibrate(
    bundle: str | os.PathLike[str],
    device: str = "cpu",
    backend: str = "ort",
    batches: Sequence[int] = DEFAULT_BATCHES,
    seqs: Sequence[int] = DEFAULT_SEQS,
    iters: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    max_seconds_per_cell: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Time every profile graph at every (batch, seq) on ``device`` and store the rows in the bundle's manifest.

    Returns the rows written (``LatencyRow`` fields as dicts, ``p50_ms``/``p99_ms`` in milliseconds). ``threads``:
    ORT intra-op threads, as ``Runtime.load(threads=...)`` takes them (None: ORT's default, recorded as None).
    ``iters`` timed runs per cell after ``warmup``, fewer once ``max_seconds_per_cell`` is spent (at least 3).
    The bundle is verified (sha256) first; a failure anywhere leaves the manifest as it was.
    """
    _check(batches, seqs, iters, warmup, threads, max_seconds_per_cell, backend)
    say = progress or (lambda message: None)
    manifest = read_manifest(bundle, verify=True)
    too_long = [seq for seq in seqs if seq > manifest.model.max_length]
    if too_long:
        raise DataError(
            f"seqs {too_long} exceed the model's max_length {manifest.model.max_length}; "
            f"pass lengths <= {manifest.model.max_length}"
        )
    resolved = resolve_device(device)
    backends = _backends(manifest, resolved, threads)  # fails first (e.g. CUDA without onnxruntime-gpu)
    key = (f"ort-{resolved}", device_name(resolved))
    say(f"calibrating {len(backends)} profiles x {len(batches) * len(seqs)} cells on {key[0]} / {key[1]}")
    vocab_size = TextEncoder.from_manifest(manifest).vocab_size
    rows: list[dict[str, Any]] = []
    for batch in batches:
        for seq in seqs:
            feeds = full_length_feeds(batch, seq, vocab_size)
            for profile, runner in backends.items():
                p50_ms, p99_ms = _time(runner, feeds, warmup, iters, max_seconds_per_cell)
                row = LatencyRow(profile, key[0], key[1], batch, seq, p50_ms, p99_ms, threads)
                rows.append(asdict(row))
            say(f"batch {batch} seq {seq} done")
    update_manifest_tables(manifest.bundle_dir, latency_rows=rows, backend=key[0], device=key[1])
    say(f"wrote {len(rows)} latency rows for {key[0]} / {key[1]} into {Path(manifest.bundle_dir) / 'manifest.json'}")
    return rows


def _check(
    batches: Sequence[int],
    seqs: Sequence[int],
    iters: int,
    warmup: int,
    threads: int | None,
    max_seconds: float,
    backend: str,
) -> None:
    if backend not in BACKENDS:
        raise BackendError(
            f"calibration backend {backend!r} is not supported; pass one of {', '.join(repr(b) for b in BACKENDS)}"
        )
    if not batches or not seqs or min(*batches, *seqs) < 1:
        raise DataError(f"batches and seqs must be positive integers, got {list(batches)} and {list(seqs)}")
    if iters < 1 or warmup < 0:
        raise DataError(f"iters must be >= 1 and warmup >= 0, got {iters} and {warmup}")
    if threads is not None and threads < 1:
        raise DataError(f"threads must be >= 1, got {threads}; omit it for onnxruntime's default")
    if not max_seconds > 0:
        raise DataError(f"max_seconds_per_cell must be > 0, got {max_seconds}")


def _backends(manifest: Manifest, device: str, threads: int | None) -> dict[str, Backend]:
    """One ``OrtBackend`` per graph file (profiles sharing a graph share it), keyed by profile name."""
    by_graph: dict[str, Backend] = {}
    backends: dict[str, Backend] = {}
    for entry in manifest.profiles:
        if entry.graph not in by_graph:
            by_graph[entry.graph] = OrtBackend(manifest.path(entry.graph), device=device, threads=threads)
        backends[entry.name] = by_graph[entry.graph]
    if not backends:
        raise BundleError(
            f"bundle {manifest.bundle_dir} ships no profile graphs (only the adjustable graph), so there is nothing "
            "to calibrate; re-export it with --speedups"
        )
    return backends


def _time(
    backend: Backend, feeds: dict[str, np.ndarray], warmup: int, iters: int, max_seconds: float
) -> tuple[float, float]:
    """(p50, p99) in ms, percentiles as ``acc.exporter.latency.measure_latency`` computes them (numpy linear)."""
    samples = measure_interleaved({"graph": lambda: backend.infer(feeds)}, warmup, iters, max_seconds)["graph"]
    values = np.asarray(samples, dtype=np.float64)
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))
