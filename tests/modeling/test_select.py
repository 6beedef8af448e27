"""TokenSelect reference semantics and the ACC score."""

from __future__ import annotations

import torch

from acc.modeling.score import acc_score
from acc.modeling.select import keep_counts_tensor, select_tokens
from acc.profiles import keep_count


def test_acc_score_is_normalised_column_sum_with_pins() -> None:
    probs = torch.softmax(torch.randn(2, 3, 5, 5), dim=-1)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    masked = probs * mask[:, None, None, :]
    masked = masked / masked.sum(-1, keepdim=True)
    score = acc_score(masked, mask)
    expected_row1 = (masked[1, :, :3, :].sum(dim=(0, 1)) / (3 * 3))[1:3]
    torch.testing.assert_close(score[1, 1:3], expected_row1)
    assert torch.isinf(score[:, 0]).all() and (score[:, 0] > 0).all()
    assert torch.isinf(score[1, 3:]).all() and (score[1, 3:] < 0).all()


def test_keep_counts_tensor_matches_python_reference() -> None:
    n_valid = torch.arange(1, 300)
    for ratio in (0.7, 0.333333, 0.05, 1.0):
        k = keep_counts_tensor(torch.tensor(ratio), n_valid, n_valid, min_keep=1)
        assert k.tolist() == [keep_count(ratio, int(n), int(n)) for n in n_valid]


def test_select_keeps_top_scores_in_order_with_masked_filler() -> None:
    hidden = torch.arange(2 * 6 * 1, dtype=torch.float32).reshape(2, 6, 1)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    positions = torch.arange(6).expand(2, 6)
    score = torch.tensor([[9.0, 0.1, 0.5, 0.3, 0.9, 0.2], [9.0, 0.7, 0.1, -1, -1, -1]])
    score = torch.where(mask > 0, score, torch.tensor(float("-inf")))
    out = select_tokens(hidden, mask, positions, score, mask.sum(1), torch.tensor(0.5))
    assert out.positions[0].tolist() == [0, 2, 4]  # top-3 of 6, original order
    assert out.mask[0].tolist() == [1, 1, 1]
    assert out.positions[1, :2].tolist() == [0, 1] and out.mask[1].tolist() == [1, 1, 0]  # ceil(1.5) = 2, one filler
    assert out.hidden[0, :, 0].tolist() == [0.0, 2.0, 4.0]
