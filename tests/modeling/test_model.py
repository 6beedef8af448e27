"""ACC BERT: dense equivalence, batch independence, keep counts per layer, [CLS] and padding rules."""

from __future__ import annotations

import pytest
import torch

from acc.modeling.checkpoint import load_model
from acc.profiles import profile_for_speedup

RATIOS_4 = [1.0, 0.6, 0.35, 0.2]


@pytest.fixture(scope="module")
def tiny4(tiny4_checkpoint):
    return load_model(tiny4_checkpoint).model


def _batch(lengths: list[int], seq_len: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 20000, (len(lengths), seq_len), generator=generator)
    mask = (torch.arange(seq_len)[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


def test_all_ones_reproduces_hugging_face_dense(tiny4) -> None:
    ids, mask = _batch([17, 9, 3], 17)
    with torch.no_grad():
        reference = tiny4.hf(input_ids=ids, attention_mask=mask).logits
        dense = tiny4(ids, mask).logits
        ones = tiny4(ids, mask, keep_ratios=[1.0] * 4, select_layers=[1, 2, 3]).logits
    torch.testing.assert_close(dense, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(ones, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("ratios", [RATIOS_4, [1.0, 0.9, 0.9, 0.05]])
def test_sample_alone_equals_sample_in_padded_batch(tiny4, ratios) -> None:
    lengths = [23, 5, 14, 1, 9]
    ids, mask = _batch(lengths, 23, seed=1)
    with torch.no_grad():
        batched = tiny4(ids, mask, keep_ratios=ratios).logits
        for row, length in enumerate(lengths):
            alone = tiny4(ids[row : row + 1, :length], mask[row : row + 1, :length], keep_ratios=ratios).logits
            torch.testing.assert_close(alone[0], batched[row], atol=1e-5, rtol=0)


def test_tokens_entering_each_layer_match_profile_for_every_length(tiny4) -> None:
    profile = profile_for_speedup(tiny4.shape, 2.5)
    lengths = list(range(1, 65))
    ids, mask = _batch(lengths, 64, seed=2)
    with torch.no_grad():
        out = tiny4(ids, mask, keep_ratios=profile.keep_ratios)
    for row, length in enumerate(lengths):
        expected = profile.keep_counts(length)
        seen = [int(layer_mask[row].sum()) for layer_mask in out.kept_masks]
        assert seen == expected, f"length {length}"


def test_cls_is_never_dropped_and_padding_goes_first(tiny4) -> None:
    lengths = [40, 12, 2]
    ids, mask = _batch(lengths, 40, seed=3)
    with torch.no_grad():
        out = tiny4(ids, mask, keep_ratios=[1.0, 0.3, 0.1, 0.02])
    for positions, layer_mask in zip(out.kept_positions, out.kept_masks):
        for row, length in enumerate(lengths):
            kept = positions[row][layer_mask[row] > 0]
            assert int(kept[0]) == 0, "[CLS] must stay at slot 0"
            assert bool((kept < length).all()), "a padding slot was kept while real tokens were dropped"
            assert torch.equal(kept, torch.sort(kept).values), "kept vectors must stay in original order"


def test_wrong_number_of_ratios_is_a_clear_error(tiny4) -> None:
    ids, mask = _batch([5], 5)
    from acc.profiles import ModelError

    with pytest.raises(ModelError, match="4 layers"):
        tiny4(ids, mask, keep_ratios=[1.0, 0.5])
