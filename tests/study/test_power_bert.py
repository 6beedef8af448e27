"""PoWER-BERT: soft extraction is the dense model at r = 1, the retention configuration is monotone, the rescale
hits the target, the penalty pushes retention down, and the whole two-step run works on a tiny model."""

from __future__ import annotations

import itertools

import pytest
import torch
from acc_study.power_bert import (
    SoftExtractBert,
    default_lambda,
    monotone_ratios,
    power_bert,
    rescale_to_speedup,
)

from acc.modeling.checkpoint import load_model
from acc.modeling.data import iter_batches, load_sst2
from acc.modeling.finetune import FinetuneOptions
from acc.profiles import EncoderShape, ProfileError, theoretical_speedup

MINILM = EncoderShape(num_layers=6, hidden_size=384, intermediate_size=1536, num_heads=12)


def _batch(loaded, sst2_dir, n=6):
    return next(iter_batches(load_sst2("dev", sst2_dir).head(n), loaded.tokenizer, n, 32))


def test_soft_extraction_at_full_retention_is_the_dense_model(tiny4_checkpoint, sst2_dir) -> None:
    loaded = load_model(tiny4_checkpoint)
    batch = _batch(loaded, sst2_dir)
    soft = SoftExtractBert(loaded.model, bins=32).eval()
    with torch.no_grad():
        dense = loaded.model(batch.input_ids, batch.attention_mask, batch.token_type_ids).logits
        out = soft(batch.input_ids, batch.attention_mask, batch.token_type_ids).logits
    torch.testing.assert_close(out, dense)
    with pytest.raises(ProfileError, match="keep_ratios=None"):
        soft(batch.input_ids, batch.attention_mask, keep_ratios=[1.0] * 4)


def test_weights_follow_relative_rank_bins_and_pin_cls(tiny4_checkpoint) -> None:
    soft = SoftExtractBert(load_model(tiny4_checkpoint).model, bins=4)
    with torch.no_grad():
        soft.retention[0] = torch.tensor([0.9, 0.6, 0.3, 0.1])
    score = torch.tensor([[float("inf"), 0.1, 0.4, 0.3, float("-inf")]])  # [CLS], three words, padding
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    weights = soft.weights(score, mask, layer=1)
    # ranks of the 4 valid vectors: [CLS] 0 (pinned to 1), 0.4 -> 1, 0.3 -> 2, 0.1 -> 3; bin = rank * 4 // 4
    assert weights[0, :4].tolist() == pytest.approx([1.0, 0.1, 0.6, 0.3])
    long_score = torch.cat([score[:, :4], torch.tensor([[0.2, 0.05, 0.01, 0.0]])], dim=1)  # 8 valid: 2 per bin
    weights = soft.weights(long_score, torch.ones(1, 8, dtype=torch.long), layer=1)
    assert weights[0].tolist() == pytest.approx([1.0, 0.3, 0.9, 0.6, 0.6, 0.3, 0.1, 0.1])


def test_retention_configuration_is_monotone_and_valid() -> None:
    ratios = monotone_ratios([0.5, 0.8, 0.3, 0.0, 0.4], floor=1 / 64)
    assert ratios == pytest.approx((1.0, 0.5, 0.5, 0.3, 1 / 64, 1 / 64))
    assert all(b <= a for a, b in itertools.pairwise(ratios))


@pytest.mark.parametrize("target", [1.5, 3.0, 4.8])
def test_rescale_reaches_the_target_and_keeps_the_order_of_layers(target) -> None:
    learned = (1.0, 0.9, 0.9, 0.5, 0.2, 0.2)
    ratios = rescale_to_speedup(learned, target, MINILM)
    assert theoretical_speedup(ratios, MINILM, 128) >= target
    assert theoretical_speedup(ratios, MINILM, 128) < target * 1.05
    assert ratios[0] == 1.0 and all(b <= a for a, b in itertools.pairwise(ratios))
    with pytest.raises(ProfileError, match="outside"):
        rescale_to_speedup(learned, 9.0, MINILM)


def test_default_lambda_grows_with_the_target() -> None:
    assert default_lambda(1.5) < default_lambda(2.0) < default_lambda(3.0) < default_lambda(4.8) == default_lambda(6)


def test_two_step_run_learns_a_configuration_and_retrains_at_the_target(tiny4_checkpoint, sst2_dir, tmp_path) -> None:
    loaded = load_model(tiny4_checkpoint)
    train = load_sst2("train", sst2_dir).head(16)
    options = FinetuneOptions(output_dir=str(tmp_path), batch_size=8, max_length=16, device="cpu", lr=1e-3)
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    result = power_bert(loaded.model, loaded.tokenizer, train, options, target_speedup=2.0, lam=1.0,
                        retention_lr=0.2, progress=False)  # fmt: skip
    # A large λ pushes retention below 1 within two steps, and the configuration read from it is monotone.
    assert result.learned_speedup > 1.0
    assert all(b <= a for a, b in zip(result.learned_ratios, result.learned_ratios[1:]))
    shape = loaded.model.shape
    assert theoretical_speedup(result.keep_ratios, shape, 128) >= 2.0
    assert [p.steps for p in (result.search, result.retrain)] == [2, 2]
    assert any(not torch.equal(before[k], v) for k, v in loaded.model.state_dict().items())
    assert result.to_dict()["lambda"] == 1.0
