"""Drop-and-Restore: a token head sees every position, in input order, dropped ones with their state at drop time."""

from __future__ import annotations

import pytest
import torch
from acc_study.drop_restore import DropAndRestoreBert

from acc.modeling.checkpoint import load_model
from acc.modeling.data import iter_batches, load_sst2
from acc.profiles import ModelError


@pytest.fixture(scope="module")
def setup(tiny_checkpoint, sst2_dir):
    torch.manual_seed(0)
    loaded = load_model(tiny_checkpoint)  # 2 layers: layer 0 sees all, one selection before layer 1
    tagger = DropAndRestoreBert(loaded.model.hf.bert, num_labels=5).eval()
    batch = next(iter_batches(load_sst2("dev", sst2_dir).head(6), loaded.tokenizer, 6, 40))
    return loaded, tagger, batch


def test_dense_run_is_the_encoder_output_at_every_position(setup) -> None:
    loaded, tagger, batch = setup
    with torch.no_grad():
        out = tagger(batch.input_ids, batch.attention_mask, batch.token_type_ids)
        reference = loaded.model.hf.bert(batch.input_ids, batch.attention_mask, batch.token_type_ids).last_hidden_state
    valid = batch.attention_mask.bool()
    torch.testing.assert_close(out.hidden[valid], reference[valid], atol=1e-5, rtol=1e-5)
    assert out.logits.shape == (*batch.input_ids.shape, 5)
    assert (out.dropped_before == tagger.num_layers).all()


def test_every_position_comes_back_in_order_with_its_state_at_drop_time(setup) -> None:
    loaded, tagger, batch = setup
    ratios = [1.0, 0.3]
    with torch.no_grad():
        out = tagger(batch.input_ids, batch.attention_mask, batch.token_type_ids, keep_ratios=ratios)
        layer0 = loaded.model.hf.bert(batch.input_ids, batch.attention_mask, batch.token_type_ids,
                                      output_hidden_states=True).hidden_states[1]  # fmt: skip
        acc = loaded.model(batch.input_ids, batch.attention_mask, batch.token_type_ids, keep_ratios=ratios)
    assert out.hidden.shape == (*batch.input_ids.shape, loaded.model.config.hidden_size)
    valid = batch.attention_mask.bool()
    dropped = (out.dropped_before == 1) & valid
    kept = (out.dropped_before == 2) & valid
    assert dropped.any() and kept.any() and (dropped | kept)[valid].all()
    # Dropped before layer 1: restored at its own position with layer 0's output (the dense run up to there).
    torch.testing.assert_close(out.hidden[dropped], layer0[dropped], atol=1e-5, rtol=1e-5)
    # Kept: exactly the word-vectors the ACC model keeps, and [CLS] always among them.
    for b in range(batch.input_ids.shape[0]):
        acc_kept = acc.kept_positions[1][b][acc.kept_masks[1][b].bool()].sort().values
        assert torch.equal(kept[b].nonzero().flatten(), acc_kept)
    assert (out.dropped_before[:, 0] == 2).all()
    # Kept vectors went through layer 1: they differ from their layer-0 state.
    assert not torch.allclose(out.hidden[kept], layer0[kept])


def test_loss_on_a_dropped_position_does_not_reach_the_layers_after_its_drop(setup) -> None:
    _loaded, tagger, batch = setup
    tagger.zero_grad()
    out = tagger(batch.input_ids, batch.attention_mask, batch.token_type_ids, keep_ratios=[1.0, 0.3])
    b, p = (out.dropped_before == 1).nonzero()[0].tolist()
    out.logits[b, p].sum().backward()
    last = tagger.bert.encoder.layer[1]
    assert all(param.grad is None or not param.grad.any() for param in last.parameters())
    assert tagger.bert.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    tagger.zero_grad()


def test_wrong_profile_length_fails_with_one_line(setup) -> None:
    _, tagger, batch = setup
    with pytest.raises(ModelError, match="3 keep ratios but the encoder has 2 layers"):
        tagger(batch.input_ids, batch.attention_mask, keep_ratios=[1.0, 0.5, 0.5])
