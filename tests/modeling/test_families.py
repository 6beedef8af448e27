"""Encoder families (BERT, RoBERTa, DistilBERT, MPNet) through the one ACC layer loop.

Per family: dense equals its Hugging Face model (1e-5), a sample alone equals the same sample in a padded batch,
sentence pairs as the family's tokenizer writes them, and a regression head (num_labels=1). MPNet: the relative
position bias after a selection is the dense bias at the kept original positions.
"""

from __future__ import annotations

import pytest
import torch
from tiny_encoders import FAMILY_NAMES, tiny_hf_model, tiny_tokenizer

from acc.modeling.families import MPNetFamily, family_of
from acc.modeling.model import AccEncoderForSequenceClassification
from acc.profiles import ModelError

RATIOS = [1.0, 0.6, 0.35, 0.2]
TEXTS = ["a gorgeous , witty , seductive movie .", "flat", "the plot is thin but the acting carries it along nicely ."]
PAIRS = ["it is", "no", "a second segment of some length here"]


@pytest.fixture(scope="module", params=FAMILY_NAMES)
def family(request: pytest.FixtureRequest) -> tuple[str, object, AccEncoderForSequenceClassification]:
    name = request.param
    tokenizer = tiny_tokenizer(name)
    return name, tokenizer, AccEncoderForSequenceClassification(tiny_hf_model(name, len(tokenizer))).eval()


def _encode(tokenizer: object, texts: list[str], pairs: list[str] | None = None) -> dict[str, torch.Tensor]:
    encoded = tokenizer(texts, pairs, padding=True, return_tensors="pt")
    return {key: encoded[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded}


def _hf_logits(model: AccEncoderForSequenceClassification, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    kwargs = dict(batch)
    if not model.family.uses_token_type_ids:
        kwargs.pop("token_type_ids", None)  # DistilBERT's forward does not take them; RoBERTa/MPNet ignore segments
    return model.hf(**kwargs).logits


def test_dense_equals_hugging_face(family) -> None:
    _, tokenizer, model = family
    batch = _encode(tokenizer, TEXTS)
    with torch.no_grad():
        reference = _hf_logits(model, batch)
        dense = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).logits
        ones = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"),
                     keep_ratios=[1.0] * 4, select_layers=[1, 2, 3]).logits  # fmt: skip
    torch.testing.assert_close(dense, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(ones, reference, atol=1e-5, rtol=0)


def test_sentence_pairs_equal_hugging_face(family) -> None:
    name, tokenizer, model = family
    batch = _encode(tokenizer, TEXTS, PAIRS)
    if name == "bert":
        assert int(batch["token_type_ids"].max()) == 1, "BERT pairs carry segment ids"
    with torch.no_grad():
        reference = _hf_logits(model, batch)
        dense = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).logits
    torch.testing.assert_close(dense, reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("ratios", [RATIOS, [1.0, 0.9, 0.9, 0.05]])
def test_sample_alone_equals_sample_in_padded_batch(family, ratios) -> None:
    _, tokenizer, model = family
    batch = _encode(tokenizer, TEXTS, PAIRS)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    with torch.no_grad():
        batched = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"), keep_ratios=ratios)
        for row, length in enumerate(lengths):
            alone = {key: value[row : row + 1, :length] for key, value in batch.items()}
            out = model(alone["input_ids"], alone["attention_mask"], alone.get("token_type_ids"), keep_ratios=ratios)
            torch.testing.assert_close(out.logits[0], batched.logits[row], atol=1e-5, rtol=0)
    assert any(int(mask.sum()) < int(batch["attention_mask"].sum()) for mask in batched.kept_masks), "nothing pruned"


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_regression_head(name: str) -> None:
    tokenizer = tiny_tokenizer(name)
    model = AccEncoderForSequenceClassification(tiny_hf_model(name, len(tokenizer), num_labels=1)).eval()
    batch = _encode(tokenizer, TEXTS)
    with torch.no_grad():
        reference = _hf_logits(model, batch)
        dense = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")).logits
        pruned = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"), keep_ratios=RATIOS)
    assert dense.shape == (len(TEXTS), 1) and pruned.logits.shape == (len(TEXTS), 1)
    torch.testing.assert_close(dense, reference, atol=1e-5, rtol=0)


def test_mpnet_position_bias_comes_from_kept_original_positions() -> None:
    """After a selection slot i holds original position p_i: its bias row must be the dense row p_i, not row i."""
    tokenizer = tiny_tokenizer("mpnet")
    family = family_of(tiny_hf_model("mpnet", len(tokenizer)))
    assert isinstance(family, MPNetFamily)
    length = 40
    mask = torch.ones(1, length, dtype=torch.long)
    dense = family.attention_bias(mask, torch.arange(length)[None, :], torch.float32).position
    kept = torch.tensor([[0, 3, 4, 17, 30, 39]])
    pruned = family.attention_bias(torch.ones_like(kept), kept, torch.float32).position
    torch.testing.assert_close(pruned, dense[:, :, kept[0]][:, :, :, kept[0]], atol=0, rtol=0)
    slot_positions = family.attention_bias(torch.ones_like(kept), torch.arange(6)[None, :], torch.float32).position
    assert not torch.equal(pruned, slot_positions), "the bucket table must tell these distances apart"


def test_unsupported_model_type_is_one_clear_error() -> None:
    from transformers import GPT2Config, GPT2ForSequenceClassification

    hf = GPT2ForSequenceClassification(GPT2Config(n_embd=32, n_layer=1, n_head=4, vocab_size=100))
    with pytest.raises(ModelError, match="model_type 'gpt2'.*load one of BertForSequenceClassification"):
        AccEncoderForSequenceClassification(hf)


def test_checkpoint_of_each_family_loads_with_its_class(tmp_path) -> None:
    from tiny_encoders import make_tiny_encoder

    from acc.modeling.checkpoint import load_model, model_family

    for name in ("roberta", "distilbert", "mpnet"):
        directory = make_tiny_encoder(name, tmp_path / name, num_layers=2)
        loaded = load_model(directory)
        assert loaded.model.config.model_type == name and model_family(directory) == "encoder-classifier"
        assert type(loaded.model.hf).__name__ == loaded.model.family.hf_class
