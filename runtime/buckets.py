"""Shape buckets: pad a request to one of a few fixed (batch, seq) shapes, so fixed buffers and CUDA graphs apply.

Why: a CUDA graph replays kernels captured for one shape at fixed device addresses. Requests come in every shape,
so each is padded up to the smallest bucket that holds it, and each bucket gets its own buffers (and graph):

    request [3, 37] ──pad──► bucket [4, 64]: rows 4 = copy of row 0, columns 38..64 = padding (mask 0)

Padding never changes a real row's result: padded columns are masked like any padding, and ACC keep counts come
from each row's own valid length (docs/METHOD.md#2-selection); a copied row is dropped again after the run, and
copying a real row (rather than adding an empty one) keeps the batch's largest keep counts as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from acc.profiles import DataError

TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)
DEFAULT_SEQS = (16, 32, 64, 128, 256, 512)


@dataclass(frozen=True)
class Buckets:
    """Allowed padded shapes: every (batch, seq) pair of the two ascending lists."""

    batches: tuple[int, ...] = DEFAULT_BATCHES
    seqs: tuple[int, ...] = DEFAULT_SEQS

    def __post_init__(self) -> None:
        for name, values in (("batches", self.batches), ("seqs", self.seqs)):
            values = tuple(int(v) for v in values)
            if not values or min(values) < 1 or list(values) != sorted(set(values)):
                raise DataError(f"bucket {name} must be ascending positive integers, got {list(values)}")
            object.__setattr__(self, name, values)

    def shape_for(self, batch: int, seq: int) -> tuple[int, int]:
        """The smallest bucket holding ``[batch, seq]``; a one-line error when the request is larger than all."""
        if batch > self.batches[-1] or seq > self.seqs[-1]:
            raise DataError(
                f"request [batch {batch}, seq {seq}] exceeds the largest bucket [{self.batches[-1]}, {self.seqs[-1]}]; "
                "split the request or pass larger buckets"
            )
        return next(b for b in self.batches if b >= batch), next(s for s in self.seqs if s >= seq)


def pad_feeds(feeds: Mapping[str, np.ndarray], batch: int, seq: int) -> dict[str, np.ndarray]:
    """Token inputs padded to ``[batch, seq]`` (extra rows copy row 0, extra columns are 0 = masked padding).

    Other feeds (``keep_ratios``, ``keep_counts``) pass unchanged.
    """
    out = dict(feeds)
    for name in TOKEN_INPUTS:
        if name not in feeds:
            continue
        value = np.asarray(feeds[name])
        rows, columns = value.shape
        if rows > batch or columns > seq:
            raise DataError(f"{name} of shape {list(value.shape)} does not fit bucket [{batch}, {seq}]; file a bug")
        padded = np.zeros((batch, seq), dtype=value.dtype)
        padded[:rows, :columns] = value
        padded[rows:, :columns] = value[:1]
        out[name] = padded
    return out


def unpad(outputs: Mapping[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """The first ``rows`` rows of every output (the request's own)."""
    return {name: value[:rows] for name, value in outputs.items()}
