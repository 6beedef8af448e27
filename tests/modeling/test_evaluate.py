"""acc.modeling.evaluate: dense row first, one row per speedup, numbers that match a hand computation."""

from __future__ import annotations

import json

import pytest

from acc.modeling.checkpoint import load_model
from acc.modeling.evaluate import EvalRow, evaluate, render_table, rows_to_json
from acc.profiles import EncoderShape, ProfileError, profile_for_speedup, theoretical_speedup


@pytest.fixture(scope="module")
def tiny4(tiny4_checkpoint):
    return load_model(tiny4_checkpoint)


def _eval(loaded, speedups, sst2_dir, **kwargs):
    kwargs.setdefault("max_examples", 24)
    kwargs.setdefault("max_length", 48)
    return evaluate(loaded, speedups, data_dir=sst2_dir, progress=False, **kwargs)


def test_dense_row_first_then_one_row_per_speedup(tiny4, sst2_dir):
    rows = _eval(tiny4, [1.5, 3.0], sst2_dir)
    assert [row.profile for row in rows] == ["dense", "s1.5", "s3"]
    assert [row.target_speedup for row in rows] == [1.0, 1.5, 3.0]
    assert rows[0].keep_ratios == (1.0,) * 4
    assert rows[0].kept_fraction == 1.0
    assert rows[1].kept_fraction > rows[2].kept_fraction
    assert all(row.examples == 24 and row.dataset == "sst2-dev" for row in rows)


def test_speedup_one_and_repeats_are_not_duplicated(tiny4, sst2_dir):
    rows = _eval(tiny4, [1.0, 1.5, 1.5], sst2_dir, max_examples=4)
    assert [row.profile for row in rows] == ["dense", "s1.5"]


def test_theoretical_speedups_match_the_flops_model(tiny4, sst2_dir):
    shape = EncoderShape.from_config(tiny4.model.config)
    row = _eval(tiny4, [3.0], sst2_dir, max_examples=4)[1]
    expected = profile_for_speedup(shape, 3.0, 128)
    assert row.keep_ratios == expected.keep_ratios
    assert row.theoretical_speedup_128 >= 3.0
    assert row.theoretical_speedup_64 == pytest.approx(theoretical_speedup(expected.keep_ratios, shape, 64), abs=1e-4)
    assert row.theoretical_speedup_512 == pytest.approx(theoretical_speedup(expected.keep_ratios, shape, 512), abs=1e-4)


def test_accuracy_matches_a_hand_computation(tiny4, sst2_dir):
    import torch

    from acc.modeling.data import iter_batches, load_sst2

    split = load_sst2("dev", sst2_dir).head(24)
    ratios = profile_for_speedup(tiny4.model.shape, 3.0).keep_ratios
    correct = {None: 0, ratios: 0}
    with torch.inference_mode():
        for batch in iter_batches(split, tiny4.tokenizer, 5, 48):
            for key in correct:
                out = tiny4.model(batch.input_ids, batch.attention_mask, batch.token_type_ids, keep_ratios=key)
                correct[key] += int((out.logits.argmax(-1) == batch.labels).sum())
    # A different batch size on purpose: a sample's result must not depend on its batch.
    rows = _eval(tiny4, [3.0], sst2_dir, batch_size=7)
    assert rows[0].accuracy == pytest.approx(correct[None] / 24)
    assert rows[1].accuracy == pytest.approx(correct[ratios] / 24)


def test_restores_training_mode(tiny4, sst2_dir):
    tiny4.model.train()
    try:
        _eval(tiny4, [1.5], sst2_dir, max_examples=4)
        assert tiny4.model.training
    finally:
        tiny4.model.eval()


def test_unreachable_speedup_is_a_profile_error(tiny4, sst2_dir):
    with pytest.raises(ProfileError, match="unreachable"):
        _eval(tiny4, [1.5, 50.0], sst2_dir)


def test_accepts_a_model_directory(tiny_checkpoint, sst2_dir):
    rows = _eval(str(tiny_checkpoint), [1.5], sst2_dir, max_examples=4)
    assert [row.profile for row in rows] == ["dense", "s1.5"]


def test_rows_to_json_and_table(tiny4, sst2_dir):
    from rich.console import Console

    rows = _eval(tiny4, [1.5], sst2_dir, max_examples=8)
    data = json.loads(json.dumps(rows_to_json(rows)))
    assert data[0]["speedup"] == 1.0 and data[1]["speedup"] == 1.5
    assert data[1]["keep_ratios"] == list(rows[1].keep_ratios)
    keys = {"profile", "keep_ratios", "theoretical_speedup_64", "theoretical_speedup_128", "accuracy", "examples"}
    assert keys | {"dataset"} <= set(data[0])
    console = Console(record=True, width=200)
    console.print(render_table(rows))
    text = console.export_text()
    assert "dense" in text and "s1.5" in text and "+0.00" in text


def test_render_table_reports_delta_against_dense():
    from rich.console import Console

    def row(name, speedup, accuracy):
        return EvalRow(name, speedup, (1.0, 0.5), speedup, speedup, speedup, accuracy, 100, "sst2-dev", 0.8, 64)

    console = Console(record=True, width=200)
    console.print(render_table([row("dense", 1.0, 0.90), row("s3", 3.0, 0.875)]))
    assert "-2.50" in console.export_text()
