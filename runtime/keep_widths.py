"""The ``keep_counts`` feed of the keep-counts adjustable graph: per layer, the TopK width of this batch.

Computed on the host with ``acc.profiles.keep_counts`` (the graph's own float32 arithmetic), so the widths are the
graph's; why the graph takes them is in ``acc.exporter.engines.keep_counts``. ORT and TensorRT backends feed them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from acc.profiles import EngineBuildError, keep_counts

KEEP_COUNTS_INPUT = "keep_counts"
KEEP_RATIOS_INPUT = "keep_ratios"


def keep_widths(keep_ratios: Sequence[float], attention_mask: np.ndarray, min_keep: int = 1) -> np.ndarray:
    """``keep_counts`` feed for a batch: per layer, the largest count any sample keeps (int64 ``[num_layers]``).

    Layer 0 (no selection before it) gets the longest valid length. Rows are counted from their own valid length,
    exactly as the graph counts them.
    """
    mask = np.asarray(attention_mask)
    if mask.ndim != 2:
        raise EngineBuildError(f"attention_mask must be [batch, seq], got shape {list(mask.shape)}")
    lengths = sorted({int(n) for n in mask.astype(bool).sum(axis=1)})
    counts = np.asarray([keep_counts(keep_ratios, n, min_keep) for n in lengths], dtype=np.int64)
    return counts.max(axis=0) if len(counts) else np.zeros(len(keep_ratios), dtype=np.int64)


def bucket_widths(keep_ratios: Sequence[float], seq_len: int, min_keep: int = 1) -> np.ndarray:
    """Widths of a full-length ``seq_len`` batch: ≥ :func:`keep_widths` of any batch padded to ``seq_len``.

    Counts grow with the valid length (ceil and clamp are monotone), so these widths cover every batch of the
    bucket, and a CUDA graph captured with them replays correctly for all of them.
    """
    return np.asarray(keep_counts(keep_ratios, int(seq_len), min_keep), dtype=np.int64)
