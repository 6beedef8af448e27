"""Run a batch of mixed lengths as groups of similar length, each trimmed to its own longest sample.

Why: an ACC graph's widths follow the *padded* length (static widths, ``ai.acc::TokenSelect`` v3), and so does the
cost of every layer. A 12-token sentence batched with a 500-token document would be computed at 500 tokens. Rows
are grouped by the sequence bucket their valid length falls in and each group runs trimmed to its longest row, so
padding waste stays within a bucket. A row's result never depends on its batch (keep counts come from its own valid
length), so grouping changes no answer, only the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .buckets import DEFAULT_SEQS

Infer = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]
LOGITS = "logits"


def length_groups(attention_mask: np.ndarray, seq_buckets: Sequence[int] = DEFAULT_SEQS) -> list[np.ndarray]:
    """Row indices per sequence bucket (ascending), each group sorted by valid length."""
    lengths = np.asarray(attention_mask).astype(bool).sum(axis=1)
    bucket = np.minimum(np.searchsorted(np.asarray(seq_buckets), lengths), len(seq_buckets) - 1)
    order = np.argsort(lengths, kind="stable")
    return [order[bucket[order] == b] for b in np.unique(bucket)]


def infer_in_length_groups(
    feeds: Mapping[str, np.ndarray], infer: Infer, seq_buckets: Sequence[int] = DEFAULT_SEQS
) -> dict[str, np.ndarray]:
    """``infer(feeds)["logits"]`` for every row, computed group by group (see the module docstring).

    Feeds of shape ``[batch, seq]`` are sliced by rows and trimmed to the group's longest valid length; any other
    feed (e.g. ``keep_ratios``) goes to every group unchanged. One group: a single call, trimmed the same way.
    """
    mask = np.asarray(feeds["attention_mask"])
    batch, seq = mask.shape
    groups = length_groups(mask, seq_buckets)
    logits: np.ndarray | None = None
    for rows in groups:
        width = max(int(mask[rows].astype(bool).sum(axis=1).max()), 1)
        part = {
            name: (value[rows, :width] if np.ndim(value) == 2 and np.shape(value) == (batch, seq) else value)
            for name, value in feeds.items()
        }
        out = np.asarray(infer(part)[LOGITS])
        if logits is None:
            logits = np.empty((batch, *out.shape[1:]), dtype=out.dtype)
        logits[rows] = out
    assert logits is not None  # a batch has at least one row, so at least one group
    return {LOGITS: logits}
