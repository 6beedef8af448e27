"""acc.modeling.finetune on the tiny random checkpoints: what each step trains, what the run writes, determinism."""

from __future__ import annotations

import argparse
import json

import pytest

from acc.modeling.checkpoint import load_model
from acc.modeling.finetune import (
    FinetuneError,
    FinetuneOptions,
    finetune,
    plan_training,
)
from acc.modeling.model import AccBertForSequenceClassification
from acc.profiles import AccError, ProfileError, max_speedup, profile_for_speedup


def _options(checkpoint, tmp_path, sst2_dir, name="out", **kwargs) -> FinetuneOptions:
    values = dict(
        model=str(checkpoint),
        output_dir=str(tmp_path / name),
        data_dir=str(sst2_dir),
        epochs=1,
        batch_size=16,
        max_length=32,
        max_train_examples=32,
        max_eval_examples=16,
        eval_speedups=(1.5,),
        device="cpu",
    )
    values.update(kwargs)
    return FinetuneOptions(**values)


def _weights(directory):
    from safetensors.torch import load_file

    return load_file(str(directory / "model.safetensors"))


@pytest.fixture
def forward_calls(monkeypatch):
    """keep_ratios of every forward the model runs in training mode (None = dense)."""
    calls: list[tuple[float, ...] | None] = []
    original = AccBertForSequenceClassification.forward

    def spy(self, *args, keep_ratios=None, **kwargs):
        if self.training:
            calls.append(None if keep_ratios is None else tuple(float(r) for r in keep_ratios))
        return original(self, *args, keep_ratios=keep_ratios, **kwargs)

    monkeypatch.setattr(AccBertForSequenceClassification, "forward", spy)
    return calls


def test_sandwich_run_writes_a_loadable_checkpoint(tiny_checkpoint, tmp_path, sst2_dir):
    options = _options(tiny_checkpoint, tmp_path, sst2_dir, max_train_examples=48, eval_speedups=(1.5, 1.8))
    result = finetune(options, progress=False)

    assert result.steps == 3 and len(result.epoch_losses) == 1
    assert result.output_dir == tmp_path / "out"
    saved = json.loads((result.output_dir / "acc_config.json").read_text())
    assert [row["profile"] for row in saved["accuracy"]] == ["dense", "s1.5", "s1.8"]
    assert [row["speedup"] for row in saved["accuracy"]] == [1.0, 1.5, 1.8]
    assert all(row["examples"] == 16 and row["dataset"] == "sst2-dev" for row in saved["accuracy"])
    assert saved["accuracy"] == result.accuracy
    training = saved["training"]
    assert training["mode"] == "sandwich" and training["steps"] == 3 and training["train_examples"] == 48
    assert training["lr"] == options.lr and training["eval_speedups"] == [1.5, 1.8]
    assert {"torch", "transformers"} <= set(training["versions"])
    assert training["train_time_s"] > 0

    loaded = load_model(result.output_dir)
    assert loaded.acc_config.max_length == 32
    assert len(loaded.acc_config.accuracy) == 3
    before, after = _weights(tiny_checkpoint), _weights(result.output_dir)
    changed = [name for name in before if not (before[name] == after[name]).all()]
    assert "classifier.weight" in changed and any("encoder.layer.1" in name for name in changed)


def test_sandwich_step_trains_dense_s_max_and_random_profiles(tiny4_checkpoint, tmp_path, sst2_dir, forward_calls):
    options = _options(tiny4_checkpoint, tmp_path, sst2_dir, s_max=3.0, num_random=2, max_train_examples=32)
    finetune(options, progress=False)

    shape = load_model(tiny4_checkpoint).model.shape
    top = profile_for_speedup(shape, 3.0).keep_ratios
    assert len(forward_calls) == 2 * 4  # 2 steps x (dense, s_max, 2 random)
    for step in (forward_calls[:4], forward_calls[4:]):
        assert step[0] is None and step[1] == top
        for sampled in step[2:]:
            assert sampled is not None and sampled != top
            assert all(s >= t for s, t in zip(sampled, top))  # milder than s_max: speedup drawn from [1, s_max]
    assert forward_calls[2] != forward_calls[6]  # resampled every step


def test_unreachable_s_max_is_clamped(tiny_checkpoint, tmp_path, sst2_dir, forward_calls):
    options = _options(tiny_checkpoint, tmp_path, sst2_dir, max_train_examples=16)  # s_max 5 > 2-layer ceiling
    result = finetune(options, progress=False)

    shape = load_model(tiny_checkpoint).model.shape
    clamped = 0.98 * max_speedup(shape, 128)
    training = load_model(result.output_dir).acc_config.training
    assert training["s_max_effective"] == pytest.approx(clamped)
    assert forward_calls[1] == profile_for_speedup(shape, clamped).keep_ratios


def test_single_speedup_mode_trains_only_that_profile(tiny4_checkpoint, tmp_path, sst2_dir, forward_calls):
    options = _options(tiny4_checkpoint, tmp_path, sst2_dir, train_speedup=2.0, max_train_examples=48)
    result = finetune(options, progress=False)

    shape = load_model(tiny4_checkpoint).model.shape
    assert forward_calls == [profile_for_speedup(shape, 2.0).keep_ratios] * 3
    training = load_model(result.output_dir).acc_config.training
    assert training["mode"] == "single" and training["train_profile"]["target_speedup"] == 2.0


def test_distillation_adds_the_kl_term(tiny4_checkpoint, tmp_path, sst2_dir):
    # One step from the same weights and seed: cross-entropy parts are identical, so the difference is the KL.
    common = dict(max_train_examples=16, eval_speedups=(), max_eval_examples=4)
    plain = finetune(_options(tiny4_checkpoint, tmp_path, sst2_dir, "a", distill_weight=0.0, **common), progress=False)
    distilled = finetune(_options(tiny4_checkpoint, tmp_path, sst2_dir, "b", **common), progress=False)
    assert distilled.epoch_losses[0] > plain.epoch_losses[0]


def test_training_lowers_the_loss(tiny4_checkpoint, tmp_path, sst2_dir):
    options = _options(
        tiny4_checkpoint, tmp_path, sst2_dir, epochs=4, lr=1e-3, max_train_examples=64, eval_every_epoch=False
    )
    result = finetune(options, progress=False)
    assert result.steps == 16
    assert result.epoch_losses[-1] < result.epoch_losses[0]


def test_same_seed_same_model_other_seed_other_model(tiny_checkpoint, tmp_path, sst2_dir):
    runs = [
        finetune(_options(tiny_checkpoint, tmp_path, sst2_dir, name, seed=seed), progress=False)
        for name, seed in (("a", 7), ("b", 7), ("c", 8))
    ]
    a, b, c = (_weights(run.output_dir) for run in runs)
    assert runs[0].epoch_losses == runs[1].epoch_losses
    assert all((a[name] == b[name]).all() for name in a)
    assert runs[0].epoch_losses != runs[2].epoch_losses
    assert not all((a[name] == c[name]).all() for name in a)


def test_unreachable_speedups_fail_before_training(tiny_checkpoint, tmp_path, sst2_dir):
    with pytest.raises(ProfileError, match="unreachable"):
        finetune(_options(tiny_checkpoint, tmp_path, sst2_dir, train_speedup=50.0), progress=False)
    with pytest.raises(ProfileError, match="unreachable"):
        finetune(_options(tiny_checkpoint, tmp_path, sst2_dir, eval_speedups=(1.5, 50.0)), progress=False)
    assert not (tmp_path / "out").exists()


def test_plan_keeps_a_reachable_s_max(tiny4_checkpoint):
    loaded = load_model(tiny4_checkpoint)
    plan = plan_training(loaded.model.shape, FinetuneOptions(output_dir="x", s_max=3.0))
    assert plan.mode == "sandwich" and plan.s_max == 3.0
    assert plan.profile.keep_ratios == profile_for_speedup(loaded.model.shape, 3.0).keep_ratios


def test_flags_default_to_the_dataclass_defaults():
    parser = argparse.ArgumentParser()
    FinetuneOptions.add_arguments(parser)
    assert FinetuneOptions.from_args(parser.parse_args(["--output", "x"])) == FinetuneOptions(output_dir="x")


def test_flags_are_kebab_case_kwarg_names():
    parser = argparse.ArgumentParser()
    FinetuneOptions.add_arguments(parser)
    argv = ["--output", "o", "--model", "m", "--data-dir", "d", "--epochs", "2", "--batch-size", "8"]
    argv += ["--lr", "5e-5", "--warmup", "0.1", "--max-length", "48", "--weight-decay", "0", "--seed", "3"]
    argv += ["--max-train-examples", "10", "--max-eval-examples", "5", "--eval-speedups", "2,3x"]
    argv += ["--s-max", "4", "--train-speedup", "2.5", "--distill-weight", "0.5", "--num-random", "2"]
    argv += ["--reference-length", "64", "--device", "cpu", "--no-amp", "--no-eval-every-epoch"]
    options = FinetuneOptions.from_args(parser.parse_args(argv))
    assert options == FinetuneOptions(
        output_dir="o", model="m", data_dir="d", epochs=2, batch_size=8, lr=5e-5, warmup=0.1, max_length=48,
        weight_decay=0.0, seed=3, max_train_examples=10, max_eval_examples=5, eval_speedups=(2.0, 3.0), s_max=4.0,
        train_speedup=2.5, distill_weight=0.5, num_random=2, reference_length=64, device="cpu", amp=False,
        eval_every_epoch=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "kwargs",
    [{"epochs": 0}, {"batch_size": 0}, {"lr": 0.0}, {"warmup": 1.0}, {"num_random": -1}, {"max_train_examples": 0}],
)
def test_bad_options_are_one_line_acc_errors(kwargs):
    with pytest.raises(FinetuneError) as info:
        FinetuneOptions(output_dir="x", **kwargs)
    assert isinstance(info.value, AccError) and "\n" not in str(info.value)


def test_bad_speedup_options_are_profile_errors():
    with pytest.raises(ProfileError):
        FinetuneOptions(output_dir="x", s_max=0.5)
    parser = argparse.ArgumentParser()
    FinetuneOptions.add_arguments(parser)
    with pytest.raises(ProfileError, match="'abc'"):
        FinetuneOptions.from_args(parser.parse_args(["--output", "x", "--eval-speedups", "1.5,abc"]))
