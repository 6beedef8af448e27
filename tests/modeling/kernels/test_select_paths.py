"""Both selection launches (one kernel; plan + gather) and the column-sum tile configs, exactly vs the references.

``select_ranked`` fixes the tie order the kernels promise (equal scores rank by position, fillers after the kept
word-vectors, both in original order), so every slot is compared, fillers included. CPU: Triton's interpreter.
"""

from __future__ import annotations

import pytest
import torch

from acc.modeling.kernels import (
    causal_column_sums_reference,
    column_sums,
    column_sums_reference,
    finish_causal_score,
    finish_score,
    row_lse,
    select_fused,
    select_ranked,
)
from acc.modeling.kernels.tuning import SelectConfig, TileConfig, column_config, select_config

ONE = SelectConfig(split=False, radix=4, num_warps=4, block_d=16)
ONE_R2 = SelectConfig(split=False, radix=2, num_warps=4, block_d=32)
SPLIT = SelectConfig(split=True, radix=4, num_warps=4, block_d=16, block_s=16)
SPLIT_R1 = SelectConfig(split=True, radix=1, num_warps=4, block_d=64, block_s=32)


def _case(batch: int, n: int, heads: int, width: int, seed: int, partial: str, padding: str):
    g = torch.Generator().manual_seed(seed)
    if partial == "ties":  # few distinct values: long runs of equal scores, also across the k and K thresholds
        values = torch.randint(0, 3, (batch, heads, n), generator=g).float() / 4
    elif partial == "signed":  # negative and zero sums exercise the float → ordered-integer key on both signs
        values = torch.randn(batch, heads, n, generator=g).round()
    else:
        values = torch.rand(batch, heads, n, generator=g)
    mask = torch.ones(batch, n, dtype=torch.long)
    if padding == "right":
        mask[-1, n - n // 3 :] = 0
    elif padding == "left":  # causal prompts are left-padded
        mask[0, : n // 4] = 0
    hidden = torch.randn(batch, n, width, generator=g)
    positions = torch.arange(n)[None, :].expand(batch, n)
    return hidden, mask, positions, values


def _assert_same(got, expected) -> None:
    assert torch.equal(got.mask, expected.mask)
    assert torch.equal(got.positions, expected.positions)
    assert torch.equal(got.hidden, expected.hidden)


@pytest.mark.parametrize(
    ("batch", "n", "heads", "partial", "padding", "causal", "ratio", "config"),
    [(1, 37, 3, "rand", "none", False, 0.4, ONE), (1, 37, 3, "rand", "none", False, 0.4, SPLIT),
     (3, 20, 2, "ties", "right", False, 0.5, ONE_R2), (3, 20, 2, "ties", "right", False, 0.5, SPLIT_R1),
     (2, 70, 4, "signed", "right", False, 0.3, SPLIT), (2, 19, 2, "ties", "left", True, 0.5, ONE),
     (2, 19, 2, "ties", "left", True, 0.5, SPLIT), (2, 130, 2, "rand", "right", False, 0.25, None)],
)  # fmt: skip
def test_selection_is_exact_in_every_slot(triton_cpu: None, batch, n, heads, partial, padding, causal, ratio, config):
    hidden, mask, positions, values = _case(batch, n, heads, 24, seed=n + heads, partial=partial, padding=padding)
    slots = max(2, int(n * 0.6))
    chosen, score = select_fused(hidden, mask, positions, values, mask.sum(1), ratio, slots, return_score=True,
                                 backend="triton", causal=causal, config=config)  # fmt: skip
    finish = finish_causal_score if causal else finish_score
    assert torch.equal(score, finish(values, mask))  # heads summed in order, integer counts, IEEE division
    _assert_same(chosen, select_ranked(hidden, mask, positions, score, mask.sum(1), ratio, slots))


@pytest.mark.parametrize("config", [ONE, SPLIT])
def test_zero_keep_count_gives_only_fillers(triton_cpu: None, config: SelectConfig) -> None:
    hidden, mask, positions, values = _case(2, 12, 2, 8, seed=5, partial="ties", padding="right")
    chosen, _ = select_fused(hidden, mask, positions, values, mask.sum(1), 0.0, 5, min_keep=0, pin_first=False,
                             backend="triton", config=config)  # fmt: skip
    assert chosen.mask.sum() == 0
    _assert_same(
        chosen, select_ranked(hidden, mask, positions, finish_score(values, mask, False), mask.sum(1), 0.0, 5, 0)
    )


def test_launch_choices_follow_the_shape() -> None:
    assert not select_config(1, 128, 768).split and select_config(32, 512, 768).split
    assert select_config(1, 128, 768).block_d == 32  # small batch: more, narrower programs
    assert select_config(32, 512, 768).radix == 2 and select_config(8, 128, 768).radix == 4
    assert column_config(32, 12, 512).block_j == 128 and column_config(1, 12, 128).block_j == 32
    assert column_config(1, 2, 10) == TileConfig(16, 16, 4, 2)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("tiles", [TileConfig(32, 64, 4, 2), TileConfig(64, 16, 2, 3), TileConfig(16, 32, 4, 1)])
def test_column_sum_tiles_agree_with_reference(triton_cpu: None, causal: bool, tiles: TileConfig) -> None:
    g = torch.Generator().manual_seed(7)
    q, k = (torch.randn(2, 2, 45, 16, generator=g) for _ in range(2))
    mask = torch.ones(2, 45, dtype=torch.long)
    mask[1, :10] = 0
    lse = row_lse(q, k, mask, 0.25, backend="triton", causal=causal, config=tiles)
    reference = causal_column_sums_reference if causal else column_sums_reference
    got = column_sums(q, k, lse, mask, 0.25, backend="triton", causal=causal, config=tiles)
    torch.testing.assert_close(got, reference(q, k, lse, mask, 0.25), atol=1e-5, rtol=1e-5)
