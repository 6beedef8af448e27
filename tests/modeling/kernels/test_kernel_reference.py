"""The PyTorch references the kernels are held to agree with the model's own score and selection."""

from __future__ import annotations

import torch

from acc.modeling.kernels import (
    acc_score_from_qk,
    column_sums_reference,
    finish_score,
    row_lse_reference,
    select_static,
)
from acc.modeling.score import acc_score
from acc.modeling.select import select_tokens


def _qk(batch: int = 3, heads: int = 2, n: int = 11, dim: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(batch, heads, n, dim, generator=g), torch.randn(batch, heads, n, dim, generator=g)
    mask = torch.ones(batch, n, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    return q, k, mask


def test_score_from_qk_is_acc_score_of_eager_bert_attention() -> None:
    q, k, mask = _qk()
    scale = 8**-0.5
    additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min  # as the model's eager attention
    probs = torch.softmax(q @ k.transpose(-1, -2) * scale + additive, dim=-1)
    torch.testing.assert_close(acc_score_from_qk(q, k, mask, scale), acc_score(probs, mask))


def test_column_sums_finished_equal_score() -> None:
    q, k, mask = _qk(seed=1)
    scale = 0.3
    partial = column_sums_reference(q, k, row_lse_reference(q, k, mask, scale), mask, scale)
    torch.testing.assert_close(finish_score(partial, mask), acc_score_from_qk(q, k, mask, scale))


def test_select_static_with_batch_max_slots_is_select_tokens() -> None:
    q, k, mask = _qk(seed=2)
    score = acc_score_from_qk(q, k, mask, 0.5)
    hidden = torch.randn(3, 11, 5)
    positions = torch.arange(11)[None, :].expand(3, 11)
    n_valid = mask.sum(1)
    ratio = torch.tensor(0.6)
    expected = select_tokens(hidden, mask, positions, score, n_valid, ratio)
    got = select_static(hidden, mask, positions, score, n_valid, 0.6, slots=expected.mask.shape[1])
    for a, b in zip(got, expected):
        assert torch.equal(a, b)


def test_select_static_extra_slots_are_masked_fillers() -> None:
    q, k, mask = _qk(seed=3)
    score = acc_score_from_qk(q, k, mask, 0.5)
    hidden = torch.randn(3, 11, 5)
    positions = torch.arange(11)[None, :].expand(3, 11)
    n_valid = mask.sum(1)
    tight = select_tokens(hidden, mask, positions, score, n_valid, torch.tensor(0.5))
    wide = select_static(hidden, mask, positions, score, n_valid, 0.5, slots=9)
    k_max = tight.mask.shape[1]
    assert wide.mask.shape == (3, 9) and int(wide.mask[:, k_max:].sum()) == 0
    kept = tight.mask > 0
    assert torch.equal(wide.positions[:, :k_max][kept], tight.positions[kept])
    assert torch.equal(wide.mask[:, :k_max], tight.mask)
