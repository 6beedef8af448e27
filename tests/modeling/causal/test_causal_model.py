"""The ACC GPT-2 (modeling/causal/model.py): dense parity with Hugging Face, cache lengths, kept last token."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from acc.modeling.causal import AccGPT2LMHeadModel, causal_acc_score
from acc.modeling.causal.checkpoint import load_causal_model
from acc.modeling.causal.decoding import TorchCausalStep
from acc.profiles import ModelError, keep_counts, profile_for_speedup
from acc.runtime.generate import GenerationConfig, generate


@pytest.fixture(scope="module")
def loaded(tiny_gpt2_checkpoint: Path):
    return load_causal_model(tiny_gpt2_checkpoint)


def _left_padded(vocab: int, lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(1, vocab, (len(lengths), width), generator=generator)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, width - n :] = 1
    return ids * mask, mask


def test_dense_prefill_equals_hf_logits_with_left_padding(loaded) -> None:
    model = loaded.model
    ids, mask = _left_padded(model.config.vocab_size, [23, 9, 1])
    with torch.no_grad():
        out = model.prefill(ids, mask)
        for row in range(3):
            n = int(mask[row].sum())
            ref = model.hf(ids[row : row + 1, ids.shape[1] - n :]).logits[0, -1]
            assert torch.allclose(out.logits[row], ref, atol=1e-5)
        full = model.prefill(ids[:1], all_logits=True).logits
        assert torch.allclose(full, model.hf(ids[:1]).logits, atol=1e-5)


def test_keep_ratio_one_generates_the_dense_models_tokens(loaded) -> None:
    """Keep ratios of 1.0 everywhere: logits and greedy tokens equal Hugging Face's own generate()."""
    model = loaded.model
    prompt = torch.as_tensor([loaded.tokenizer("a gorgeous , witty , seductive movie .")["input_ids"]])
    ones = [1.0] * model.num_layers
    out = generate(TorchCausalStep(model, prompt, None, ones), GenerationConfig(max_new_tokens=12))
    with torch.no_grad():
        ref = model.hf.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False, max_new_tokens=12,
                                min_new_tokens=12, pad_token_id=loaded.tokenizer.eos_token_id)  # fmt: skip
    assert out.tokens[0].tolist() == ref[0, prompt.shape[1] :].tolist()


def test_extend_equals_full_forward_when_dense(loaded) -> None:
    model = loaded.model
    ids = torch.randint(1, model.config.vocab_size, (2, 30), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model.prefill(ids[:, :20])
        logits, cache = model.extend(out.cache, ids[:, 20:], out.next_positions[:, None] + torch.arange(10))
        ref = model.hf(ids).logits[:, 20:]
    assert torch.allclose(logits, ref, atol=1e-5)
    assert [c.key.shape[2] for c in cache] == [30] * model.num_layers


@pytest.mark.parametrize("speedup", [1.5, 2.5])
def test_cache_length_per_layer_equals_the_profile(loaded, speedup: float) -> None:
    model = loaded.model
    profile = profile_for_speedup(model.shape, speedup, reference_length=64)
    lengths = [64, 37, 5, 1]
    ids, mask = _left_padded(model.config.vocab_size, lengths, seed=2)
    with torch.no_grad():
        out = model.prefill(ids, mask, profile.keep_ratios)
        _, cache = model.extend(out.cache, torch.ones(4, 1, dtype=torch.long), out.next_positions[:, None])
    for row, n in enumerate(lengths):
        expected = keep_counts(profile.keep_ratios, n)
        assert [int(c.mask[row].sum()) for c in out.cache] == expected
        assert [int(c.mask[row].sum()) for c in cache] == [k + 1 for k in expected]  # decode appends, never prunes
    assert keep_counts(profile.keep_ratios, 64)[-1] < 64  # the profile really prunes


def test_last_prompt_token_is_always_kept(loaded) -> None:
    model = loaded.model
    ids, mask = _left_padded(model.config.vocab_size, [40, 17], seed=3)
    ratios = [1.0] + [0.01] * (model.num_layers - 1)  # one token per later layer
    with torch.no_grad():
        out = model.prefill(ids, mask, ratios)
    last = ids.shape[1] - 1
    for positions, kept in zip(out.kept_positions[1:], out.kept_masks[1:]):
        assert kept.sum(dim=1).tolist() == [1, 1]
        assert positions[kept > 0].tolist() == [last, last]


def test_a_rows_output_does_not_depend_on_its_batch(loaded) -> None:
    model = loaded.model
    profile = profile_for_speedup(model.shape, 2.0, reference_length=32)
    ids, mask = _left_padded(model.config.vocab_size, [31, 12, 26], seed=4)
    with torch.no_grad():
        batched = model.prefill(ids, mask, profile.keep_ratios)
        alone = model.prefill(ids[1:2, -12:], None, profile.keep_ratios)
        step, _ = model.extend(batched.cache, torch.full((3, 1), 7), batched.next_positions[:, None])
        step_alone, _ = model.extend(alone.cache, torch.full((1, 1), 7), alone.next_positions[:, None])
    assert torch.allclose(batched.logits[1], alone.logits[0], atol=1e-5)
    assert torch.allclose(step[1], step_alone[0], atol=1e-5)


def test_causal_score_normalises_by_the_queries_that_see_each_token() -> None:
    n = 6
    uniform = torch.tril(torch.ones(n, n)) / torch.arange(1, n + 1)[:, None]  # query i spreads 1 over keys 0..i
    probs = uniform[None, None].expand(1, 2, n, n)
    score = causal_acc_score(probs, torch.ones(1, n), pin_last=False)[0]
    expected = torch.tensor([sum(1 / (i + 1) for i in range(j, n)) / (n - j) for j in range(n)])
    assert torch.allclose(score, expected)
    left = torch.tensor([[0, 0, 1, 1, 1, 1]])
    pinned = causal_acc_score(probs, left)[0]
    assert pinned[:2].isneginf().all() and pinned[-1].isposinf()


def test_wrong_profile_length_fails_with_one_line(loaded) -> None:
    with pytest.raises(ModelError, match="keep ratios but the model has"):
        loaded.model.prefill(torch.ones(1, 4, dtype=torch.long), None, [1.0, 0.5])


def test_non_gpt2_model_is_refused() -> None:
    with pytest.raises(ModelError, match="not a GPT-2 language model"):
        AccGPT2LMHeadModel(torch.nn.Linear(2, 2))
