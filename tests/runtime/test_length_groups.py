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
from acc.runtime.length_groups import infer_in_length_groups, length_groups
from acc.runtime.session import BackendError, OrtBackend

TEXTS = [
    "a gorgeous , witty , seductive movie .",
    "flat",
    "the plot is nothing but boilerplate clichés from start to finish , and the script assumes that not only would "
    "subtlety be lost on the target audience , but that it 's also too stupid to realize that they 're repeating "
    "themselves , over and over again , for the whole long evening .",
    "an ambitious , sometimes bewildering film .",
]


def _mask(lengths: list[int], width: int) -> np.ndarray:
    return (np.arange(width)[None, :] < np.asarray(lengths)[:, None]).astype(np.int64)


def test_groups_follow_the_sequence_buckets_and_cover_every_row_once() -> None:
    groups = length_groups(_mask([3, 250, 20, 17, 100, 600], 600), seq_buckets=(16, 32, 64, 128, 256, 512))
    assert [g.tolist() for g in groups] == [[0], [3, 2], [4], [1], [5]]  # 600 > 512: the last bucket takes it


def test_each_group_runs_trimmed_to_its_longest_row() -> None:
    mask = _mask([3, 250, 20, 17], 300)
    feeds = {"input_ids": mask * 7, "attention_mask": mask, "token_type_ids": mask * 0, "keep_ratios": np.ones(3)}
    shapes = []

    def infer(part: dict) -> dict:
        shapes.append(part["input_ids"].shape)
        assert part["keep_ratios"].shape == (3,)  # non-batch feeds go to every group unchanged
        return {"logits": part["attention_mask"].sum(axis=1, keepdims=True).astype(np.float32)}

    logits = infer_in_length_groups(feeds, infer, seq_buckets=(16, 32, 64, 128, 256, 512))["logits"]
    assert logits.ravel().tolist() == [3, 250, 20, 17]  # back in request order
    assert shapes == [(1, 3), (2, 20), (1, 250)]


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
