"""Offline-tuning: keep counts, FLOPs model, geometric profiles, JSON round trip, unreachable speedups."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acc.profiles import (
    BERT_BASE,
    EncoderShape,
    Profile,
    ProfileError,
    keep_count,
    keep_counts,
    layer_flops,
    max_speedup,
    parse_speedups,
    profile_for_speedup,
    pruned_layers,
    theoretical_speedup,
)

MINILM = EncoderShape(num_layers=6, hidden_size=384, intermediate_size=1536, num_heads=12)


def test_layer_flops_matches_method_formula() -> None:
    n, d = 128, 768
    assert layer_flops(n, BERT_BASE) == 24 * n * d * d + 4 * n * n * d


def test_keep_count_clamps_to_min_keep_and_previous() -> None:
    assert keep_count(0.5, 10, 10) == 5
    assert keep_count(0.51, 10, 10) == 6  # ceil
    assert keep_count(0.01, 10, 10, min_keep=2) == 2
    assert keep_count(0.9, 10, 4) == 4


def test_keep_counts_layer_one_sees_everything() -> None:
    assert keep_counts([1.0, 0.5, 0.25], 8) == [8, 4, 2]
    assert keep_counts([1.0, 0.5, 0.25], 1) == [1, 1, 1]


def test_pruned_layers_only_where_ratio_drops() -> None:
    assert pruned_layers([1.0, 1.0, 0.5, 0.5, 0.2]) == [2, 4]
    assert pruned_layers([1.0] * 6) == []


@pytest.mark.parametrize("target", [1.1, 1.5, 2.0, 3.0, 4.0, 4.8, 5.5, 6.0])
def test_bert_base_profile_hits_target_within_two_percent(target: float) -> None:
    profile = profile_for_speedup(BERT_BASE, target)
    assert profile.theoretical_speedup == pytest.approx(target, rel=0.02)
    assert profile.theoretical_speedup >= target  # the smallest tilt that reaches the target
    assert theoretical_speedup(profile.keep_ratios, BERT_BASE, 128) == pytest.approx(
        profile.theoretical_speedup, abs=1e-3
    )


@settings(max_examples=40, deadline=None)
@given(a=st.floats(1.1, 6.0), b=st.floats(1.1, 6.0))
def test_profiles_are_monotone_in_speedup(a: float, b: float) -> None:
    low, high = sorted((a, b))
    p_low, p_high = profile_for_speedup(BERT_BASE, low), profile_for_speedup(BERT_BASE, high)
    assert all(x >= y for x, y in zip(p_low.keep_ratios, p_high.keep_ratios))
    assert p_low.theoretical_speedup <= p_high.theoretical_speedup


def test_ratios_do_not_increase_and_layer_one_is_dense() -> None:
    profile = profile_for_speedup(MINILM, 3.0)
    assert profile.keep_ratios[0] == 1.0
    assert list(profile.keep_ratios) == sorted(profile.keep_ratios, reverse=True)
    assert set(profile.speedup_at) == {"64", "128", "512"}


@pytest.mark.parametrize("bad", [0.5, 0.999, 50.0])
def test_unreachable_speedups_raise_one_line(bad: float) -> None:
    with pytest.raises(ProfileError) as info:
        profile_for_speedup(MINILM, bad)
    assert "\n" not in str(info.value)
    assert str(bad).rstrip("0").rstrip(".") in str(info.value)


def test_max_speedup_of_six_layers_is_below_six() -> None:
    assert 5.0 < max_speedup(MINILM) < 6.0
    with pytest.raises(ProfileError, match="unreachable"):
        profile_for_speedup(MINILM, 5.9)


def test_speedup_one_is_dense() -> None:
    profile = profile_for_speedup(MINILM, 1.0, name="dense")
    assert profile.keep_ratios == (1.0,) * 6 and profile.theoretical_speedup == 1.0


def test_profile_json_round_trip(tmp_path) -> None:
    profile = profile_for_speedup(MINILM, 4.8)
    path = tmp_path / "p.json"
    profile.save(path)
    assert Profile.load(path) == profile


@pytest.mark.parametrize(
    "ratios, message",
    [((0.9, 0.5), "layer 1"), ((1.0, 0.5, 0.7), "not increase"), ((1.0, 0.0), r"\(0, 1\]"), ((), "no keep ratios")],
)
def test_invalid_profiles_are_rejected(ratios: tuple, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        Profile(name="x", keep_ratios=ratios, target_speedup=2.0, theoretical_speedup=2.0)


def test_parse_speedups() -> None:
    assert parse_speedups("1.5, 3,4.8x") == [1.5, 3.0, 4.8]
    with pytest.raises(ProfileError, match="'fast' is not a number"):
        parse_speedups("1.5,fast")


def test_keep_count_float32_boundary() -> None:
    # ratio * n that lands on an integer in float32 must not be bumped up by float64 noise.
    assert keep_count(0.7, 10, 10) == math.ceil(float.__mul__(0.7, 10) - 1e-6)
