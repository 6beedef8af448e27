"""Prompt-prefix perplexity (modeling/causal/evaluate.py) and the two training phases (modeling/causal/train.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from acc.modeling.causal.checkpoint import load_causal_model
from acc.modeling.causal.evaluate import heldout_windows, prompt_prefix_perplexity
from acc.modeling.causal.train import CausalTrainOptions, acc_finetune, pretrain, random_windows
from acc.profiles import DataError, profile_for_speedup


@pytest.fixture()
def loaded(tiny_gpt2_checkpoint: Path):
    return load_causal_model(tiny_gpt2_checkpoint)  # fresh per test: training changes the weights


def test_dense_prompt_prefix_perplexity_is_the_continuation_perplexity(loaded) -> None:
    ids = np.random.default_rng(0).integers(1, loaded.model.config.vocab_size, size=400)
    windows = heldout_windows(ids, prompt_len=24, continuation_len=8, max_windows=5)
    assert windows.shape == (5, 32)
    result = prompt_prefix_perplexity(loaded.model, windows, 24, None, batch_size=2)
    with torch.no_grad():
        logits = loaded.model.hf(torch.as_tensor(windows)).logits[:, 23:-1]
    nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1), torch.as_tensor(windows[:, 24:]).flatten())
    assert result.tokens == 40 and math.isclose(result.perplexity, math.exp(float(nll)), rel_tol=1e-5)
    pruned = profile_for_speedup(loaded.model.shape, 2.0, reference_length=24)
    assert prompt_prefix_perplexity(loaded.model, windows, 24, pruned.keep_ratios).perplexity != result.perplexity
    with pytest.raises(DataError, match="fewer than one window"):
        heldout_windows(ids[:10], 24, 8)


def test_both_phases_train_on_cpu(loaded) -> None:
    ids = np.random.default_rng(1).integers(1, loaded.model.config.vocab_size, size=5000).astype(np.uint16)
    options = CausalTrainOptions(seq_len=32, batch_size=4, device="cpu", pretrain_max_steps=2, finetune_max_steps=2,
                                 finetune_batch_size=2, prompt_lens=(16,), continuation_len=8, warmup_steps=1, s_max=4.0)  # fmt: skip
    before = loaded.model.hf.transformer.h[0].attn.c_attn.weight.detach().clone()
    pre = pretrain(loaded.model.hf, ids, options, log=lambda _: None)
    fine = acc_finetune(loaded.model, ids, options, log=lambda _: None)
    assert (pre.steps, fine.steps) == (2, 2) and all(math.isfinite(x) for x in pre.losses + fine.losses)
    assert not torch.equal(before, loaded.model.hf.transformer.h[0].attn.c_attn.weight)
    assert random_windows(ids, 10, 3, np.random.default_rng(0)).shape == (3, 10)
