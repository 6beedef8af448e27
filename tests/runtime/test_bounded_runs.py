"""Bounded memory per request (issue #20 item 6): a big request runs as several bounded graph runs, same answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from acc.runtime import Runtime, pad_batch
from acc.runtime.runtime import split_batch


def test_split_batch_bounds_rows_and_tokens() -> None:
    lengths = [3, 9, 2, 2, 5, 7, 1]
    batch = pad_batch([[7] * n for n in lengths], None, 0)
    parts = split_batch(batch, max_rows=3, max_tokens=18)  # 18 // 9 = 2 rows per run
    assert [part.size for part in parts] == [2, 2, 2, 1]
    assert [part.seq_len for part in parts] == [9, 2, 7, 1]  # each run cut to its own longest sample
    assert all(part.size * part.seq_len <= 18 for part in parts)
    np.testing.assert_array_equal(np.concatenate([p.attention_mask.sum(axis=1) for p in parts]), lengths)
    assert split_batch(batch, max_rows=64, max_tokens=8192) == [batch]
    assert [p.size for p in split_batch(batch, max_rows=64, max_tokens=4)] == [1] * 7  # never fewer than one row


def test_a_big_request_is_split_with_the_same_answers(tiny_bundle: Path) -> None:
    texts = [f"review number {i}: " + "quite good " * (i % 13) for i in range(70)]
    whole = Runtime.load(tiny_bundle, device="cpu").predict(texts, speedup=1.5)
    split = Runtime.load(tiny_bundle, device="cpu", max_run_rows=8, max_run_tokens=64).predict(texts, speedup=1.5)
    assert split.labels == whole.labels and split.batch_size == 70
    np.testing.assert_allclose(split.logits, whole.logits, atol=1e-5)
    adhoc = Runtime.load(tiny_bundle, device="cpu", max_run_rows=8).predict(texts, speedup=1.7)  # adjustable graph
    assert adhoc.batch_size == 70


def test_run_limits_must_be_positive(tiny_bundle: Path) -> None:
    from acc.profiles import DataError

    with pytest.raises(DataError, match="max_run_rows and max_run_tokens must be >= 1"):
        Runtime.load(tiny_bundle, device="cpu", max_run_rows=0, preload=False)
