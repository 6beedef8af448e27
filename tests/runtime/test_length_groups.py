"""runtime/length_groups.py and the bucket runner's fixed-shape sessions, on a real bundle (CPU EP).

Grouping rows by length and fixing shapes per bucket change what a batch costs, never what a row answers: each is
checked against the rows run one at a time through the same graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from acc.runtime import Runtime
from acc.runtime.buckets import Buckets
from acc.runtime.inputs import Batch
from acc.runtime.length_groups import length_groups
from acc.runtime.session import BackendError, OrtBackend

TEXTS = [
    "a gorgeous , witty , seductive movie .",
    "flat",
    "the plot is nothing but boilerplate clichés from start to finish , and the script assumes that not only would "
    "subtlety be lost on the target audience , but that it 's also too stupid to realize that they 're repeating "
    "themselves , over and over again , for the whole long evening .",
    "an ambitious , sometimes bewildering film .",
]


def _batch(lengths: list[int], width: int) -> Batch:
    mask = (np.arange(width)[None, :] < np.asarray(lengths)[:, None]).astype(np.int64)
    return Batch(mask * 7, mask, mask * 0)


def test_groups_follow_the_sequence_buckets_and_cover_every_row_once() -> None:
    groups = length_groups(_batch([3, 250, 20, 17, 100, 600], 600), seq_buckets=(16, 32, 64, 128, 256, 512))
    assert [rows.tolist() for rows, _ in groups] == [[0], [3, 2], [4], [1], [5]]  # 600 > 512: the last bucket
    assert [group.input_ids.shape for _, group in groups] == [(1, 3), (2, 20), (1, 100), (1, 250), (1, 600)]
    _, group = groups[1]
    assert group.attention_mask.sum(axis=1).tolist() == [17, 20]  # trimmed, each row's own tokens kept


def test_runtime_answers_a_mixed_batch_as_each_text_alone(tiny_bundle: Path) -> None:
    runtime = Runtime.load(tiny_bundle, device="cpu", threads=1)
    together = runtime.predict(TEXTS, speedup=1.5)
    for row, text in enumerate(TEXTS):
        alone = runtime.predict([text], speedup=1.5)
        np.testing.assert_allclose(together.logits[row], alone.logits[0], atol=1e-5, err_msg=text)


@pytest.mark.parametrize("graph", ["s1.5", "dense"])
def test_fixed_shape_sessions_answer_like_the_dynamic_session(tiny_bundle: Path, graph: str) -> None:
    path = tiny_bundle / "graphs" / f"{graph}.onnx"
    runtime = Runtime.load(tiny_bundle, device="cpu", threads=1)
    feeds = runtime.encoder.encode(TEXTS).feeds()
    plain = OrtBackend(path, device="cpu", threads=1).infer(feeds)["logits"]
    buckets = Buckets(batches=(4,), seqs=(32, 128))  # the long text needs more than 32 tokens
    fixed = OrtBackend(path, device="cpu", threads=1, buckets=buckets, fixed_shapes=True)
    np.testing.assert_allclose(fixed.infer(feeds)["logits"], plain, atol=1e-5)
    np.testing.assert_allclose(fixed.infer({k: v[:2, :16] for k, v in feeds.items()})["logits"],
                               OrtBackend(path, device="cpu", threads=1).infer(
                                   {k: v[:2, :16] for k, v in feeds.items()})["logits"], atol=1e-5)  # fmt: skip
    assert fixed._buckets is not None and len(fixed._buckets.captured()) == 2  # noqa: SLF001 - one session per bucket


def test_fixed_shapes_need_buckets(tiny_bundle: Path) -> None:
    with pytest.raises(BackendError, match="fixed_shapes=True needs buckets"):
        OrtBackend(tiny_bundle / "graphs" / "dense.onnx", device="cpu", fixed_shapes=True)
