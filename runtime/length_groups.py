"""Run a batch of mixed lengths as groups of similar length, each trimmed to its own longest sample.

Why: an ACC graph's widths follow the *padded* length (static widths, ``ai.acc::TokenSelect`` v3), and so does the
cost of every layer. A 12-token sentence batched with a 500-token document would be computed at 500 tokens. Rows
are grouped by the sequence bucket their valid length falls in and each group runs trimmed to its longest row, so
padding waste stays within a bucket. A row's result never depends on its batch (keep counts come from its own valid
length), so grouping changes no answer, only the cost. ``Runtime.run_batch`` then bounds each group's runs
(``split_batch``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .buckets import DEFAULT_SEQS
from .inputs import Batch


def length_groups(batch: Batch, seq_buckets: Sequence[int] = DEFAULT_SEQS) -> list[tuple[np.ndarray, Batch]]:
    """``(row indices, rows trimmed to their longest)`` per sequence bucket, ascending, rows sorted by length.

    Lengths beyond the largest bucket share the last group.
    """
    lengths = batch.attention_mask.astype(bool).sum(axis=1)
    bucket = np.minimum(np.searchsorted(np.asarray(seq_buckets), lengths), len(seq_buckets) - 1)
    order = np.argsort(lengths, kind="stable")
    groups = []
    for index in np.unique(bucket):
        rows = order[bucket[order] == index]
        width = max(int(lengths[rows].max()), 1)
        groups.append((rows, Batch(batch.input_ids[rows, :width], batch.attention_mask[rows, :width],
                                   batch.token_type_ids[rows, :width])))  # fmt: skip
    return groups
