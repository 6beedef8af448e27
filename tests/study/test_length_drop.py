"""LengthDrop sampling (LAT): every sample obeys its bounds; the sandwich; the bound that matches ACC's s_max."""

from __future__ import annotations

import itertools
import random

import pytest
from acc_study.length_drop import LengthDrop

from acc.profiles import EncoderShape, ProfileError, keep_counts, profile_for_speedup, theoretical_speedup

MINILM = EncoderShape(num_layers=6, hidden_size=384, intermediate_size=1536, num_heads=12)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_every_sample_drops_between_zero_and_p_per_layer(p) -> None:
    drop = LengthDrop(num_layers=6, p=p)
    rng = random.Random(0)
    smallest = drop.smallest()
    for _ in range(500):
        ratios = drop.sample(rng)
        assert ratios[0] == 1.0 and len(ratios) == 6
        for before, after in itertools.pairwise(ratios):
            assert (1 - p) * before - 1e-12 <= after <= before  # ℓ_{l+1} = (1 − p_l)·ℓ_l, p_l ∈ [0, p]
        assert all(s <= r + 1e-12 for s, r in zip(smallest, ratios))  # never below the smallest sub-model
        for n in (5, 23, 64):  # and so are the keep counts the model applies
            counts, floor = keep_counts(ratios, n), keep_counts(smallest, n)
            assert all(f <= c <= n for f, c in zip(floor, counts))
            assert all(b <= a for a, b in itertools.pairwise(counts))


def test_samples_cover_the_range_not_only_the_ends() -> None:
    drop = LengthDrop(num_layers=6, p=0.8)
    rng = random.Random(1)
    last = [drop.sample(rng)[-1] for _ in range(300)]
    assert min(last) < 0.2 * max(last)
    assert drop.smallest()[-1] < min(last)


def test_sandwich_trains_full_smallest_and_random_with_distillation() -> None:
    drop = LengthDrop(num_layers=4, p=0.3, num_random=2)
    configs = drop.configs(random.Random(0))
    assert configs[0] == (None, False)  # the full model is the teacher, first
    assert configs[1] == (drop.smallest(), True)
    assert len(configs) == 4 and all(distill for _, distill in configs[1:])


def test_bound_for_speedup_makes_the_smallest_sub_model_acc_s_max_profile() -> None:
    drop = LengthDrop.for_speedup(MINILM, 5.0)
    acc_top = profile_for_speedup(MINILM, 5.0)
    assert drop.smallest() == pytest.approx(acc_top.keep_ratios)
    assert theoretical_speedup(drop.smallest(), MINILM, 128) >= 5.0
    assert 0.2 < drop.p < 1.0  # the paper's 0.2 would reach only ~1.6x on six layers


def test_bad_bounds_fail_with_one_line() -> None:
    with pytest.raises(ProfileError, match=r"p=1.5 must lie in \(0, 1\)"):
        LengthDrop(num_layers=6, p=1.5)
    with pytest.raises(ProfileError, match="at least 2 layers"):
        LengthDrop(num_layers=1, p=0.2)
