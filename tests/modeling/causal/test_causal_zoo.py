"""The shipped ``gpt2-mini`` (modeling/zoo/gpt2-mini, trained by benchmarks/device/train_causal.sh).

Skipped until the GPU run's checkpoint is committed; then it checks the alias, the family, the size limit, the
recorded curve, and that the model really learned English (far below the uniform perplexity on plain English prose).
"""

from __future__ import annotations

import math

import pytest
import torch

from acc.modeling.checkpoint import CAUSAL_LM, ZOO_DIR, model_aliases, model_family

SHIPPED = (ZOO_DIR / "gpt2-mini" / "config.json").exists()
pytestmark = pytest.mark.skipif(not SHIPPED, reason="gpt2-mini not shipped yet (benchmarks/device/train_causal.sh)")


def test_alias_family_size_and_recorded_curve() -> None:
    from acc.modeling.causal.checkpoint import load_causal_model

    assert "gpt2-mini" in model_aliases() and model_family("gpt2-mini") == CAUSAL_LM
    assert (ZOO_DIR / "gpt2-mini" / "model.safetensors").stat().st_size <= 8 * 10**6
    loaded = load_causal_model("gpt2-mini")
    curve = loaded.acc_config.training["perplexity"]["after_acc"]
    assert curve[0]["speedup"] == 1.0 and all(math.isfinite(row["perplexity"]) for row in curve)


# Plain English prose written for this test (not in the training corpus). SST-2's lower-cased, space-tokenised
# phrases are far out of the corpus' domain (perplexity ~700-1300), so they would test the domain, not the model.
PROSE = (
    "The committee met on a cold morning to decide what should be done with the old library. Some of the members "
    "wanted to sell the building, while others argued that the town would lose a place where children learned to "
    "read. After a long discussion they agreed to repair the roof and to open the doors again in the spring."
)


def test_it_predicts_english_far_better_than_chance() -> None:
    """Uniform guessing has perplexity = vocabulary size (8192); the trained model must be far below it."""
    from acc.modeling.causal.checkpoint import load_causal_model

    loaded = load_causal_model("gpt2-mini")
    ids = torch.as_tensor([loaded.tokenizer(PROSE)["input_ids"]])
    with torch.no_grad():
        loss = loaded.model.hf(ids, labels=ids).loss
    assert math.exp(float(loss)) < 0.02 * loaded.model.config.vocab_size
