"""The CPU latency table written into a bundle at export time: every graph × (batch, seq), same process.

Rows are full-length inputs (every token valid) so a profile's cost at a length is its worst case at that length.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from acc.runtime.bundle_format import LatencyRow
from acc.runtime.device_names import cpu_name
from acc.runtime.ort_session import create_session, session_options
from acc.runtime.timing import full_length_feeds

from .latency import measure_latency


def measure_latency_table(
    runs: Sequence[tuple[Any, Any, str]],
    config: Any,
    batches: Sequence[int],
    seqs: Sequence[int],
    iters: int = 20,
    threads: int | None = None,
    progress: bool = True,
    max_seconds_per_cell: float = 2.0,
) -> list[LatencyRow]:
    """Time each ``(graph, profile, label)`` on ORT CPU at every (batch, seq); one session per graph file."""
    options = session_options("cpu", threads)
    effective_threads = threads or os.cpu_count() or 1
    sessions: dict[Path, Any] = {}
    cells: list[LatencyRow] = []
    device = cpu_name()
    total = len(runs) * len(batches) * len(seqs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="latency", unit="cell", leave=False)
    for graph, _, _ in runs:
        if graph.path not in sessions:
            sessions[graph.path] = create_session(graph.path, options=options)
    # Cell by cell, every graph in turn: the graphs of one cell are timed moments apart, so machine drift (another
    # job starting) moves them together and the speedup ratios within a cell stay meaningful.
    for batch in batches:
        for seq in seqs:
            feeds = full_length_feeds(batch, seq, config.vocab_size)
            for graph, profile, label in runs:
                session = sessions[graph.path]
                run_feeds = {node.name: feeds[node.name] for node in session.get_inputs() if node.name in feeds}
                if graph.spec.adjustable:
                    run_feeds["keep_ratios"] = np.asarray(profile.keep_ratios, dtype=np.float32)
                stats = measure_latency(
                    lambda: session.run(["logits"], run_feeds), warmup=1, iters=iters, max_seconds=max_seconds_per_cell
                )
                cells.append(
                    LatencyRow(
                        profile.name,
                        "ort-cpu",
                        device,
                        batch,
                        seq,
                        stats.p50_ms,
                        stats.p99_ms,
                        effective_threads,
                        graph=label,
                        p90_ms=stats.p90_ms,
                        iters=stats.iters,
                    )
                )
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return cells
