"""runtime/policy.py: each selection rule, latency interpolation, impossible requests, load-adaptive hysteresis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from acc.profiles import PolicyError, Profile
from acc.runtime import (
    AccuracyRow,
    AdjustableEntry,
    LatencyRow,
    LoadAdaptivePolicy,
    ProfileEntry,
    Tables,
    accuracy_by_profile,
    choose_profile,
    interpolate_p99_ms,
)

SPEEDUPS = {"dense": 1.0, "s1.5": 1.5, "s3": 3.0}
ACCURACY = {"dense": 0.92, "s1.5": 0.915, "s3": 0.90}
P99_AT_B1_S64 = {"dense": 10.0, "s1.5": 7.0, "s3": 4.0}


@dataclass(frozen=True)
class Catalog:
    """The three attributes the policy reads (a Manifest has them too)."""

    profiles: Sequence[ProfileEntry]
    tables: Tables = field(default_factory=Tables)
    adjustable: AdjustableEntry | None = None


def _entry(name: str, speedup: float) -> ProfileEntry:
    ratios = (1.0, 1.0) if speedup == 1.0 else (1.0, 1.0 / speedup)
    return ProfileEntry(name, f"graphs/{name}.onnx", Profile(name, ratios, speedup, speedup))


def _latency_rows(backend: str = "ort-cpu", device: str = "cpu-a") -> list[LatencyRow]:
    """Per profile: p99 linear in seq (doubling 64 → 128) and in batch (x4 from batch 1 to 4)."""
    rows = []
    for name, p99 in P99_AT_B1_S64.items():
        for batch, batch_scale in ((1, 1.0), (4, 4.0)):
            for seq, seq_scale in ((32, 0.5), (64, 1.0), (128, 2.0)):
                value = p99 * batch_scale * seq_scale
                rows.append(LatencyRow(name, backend, device, batch, seq, value / 2, value, threads=2))
    return rows


def _catalog(adjustable: bool = False, accuracy: bool = True, latency: bool = True) -> Catalog:
    tables = Tables(
        accuracy=tuple(AccuracyRow(n, "sst2-dev", 872, a) for n, a in ACCURACY.items()) if accuracy else (),
        latency=tuple(_latency_rows()) if latency else (),
    )
    return Catalog(
        profiles=[_entry(n, s) for n, s in SPEEDUPS.items()],
        tables=tables,
        adjustable=AdjustableEntry("graphs/adjustable.onnx", "keep_ratios") if adjustable else None,
    )


# ------------------------------------------------------------------------------------------------------ default


def test_no_argument_is_dense() -> None:
    choice = choose_profile(_catalog())
    assert choice.profile == "dense" and not choice.adjustable and "dense" in choice.reason


def test_no_dense_name_falls_back_to_lowest_speedup() -> None:
    catalog = Catalog(profiles=[_entry("s3", 3.0), _entry("base", 1.2)])
    assert choose_profile(catalog).profile == "base"


# ------------------------------------------------------------------------------------------------------ speedup


@pytest.mark.parametrize(("speedup", "name"), [(1.0, "dense"), (1.5, "s1.5"), (3.0, "s3"), (3.0 + 5e-7, "s3")])
def test_explicit_speedup_picks_that_profile(speedup: float, name: str) -> None:
    choice = choose_profile(_catalog(), speedup=speedup)
    assert choice.profile == name and choice.speedup == SPEEDUPS[name]


def test_unknown_speedup_without_adjustable_lists_available() -> None:
    with pytest.raises(PolicyError, match=r"no profile with speedup 2.5 .*shipped: 1, 1.5, 3; no adjustable graph"):
        choose_profile(_catalog(), speedup=2.5)
    with pytest.raises(PolicyError):
        choose_profile(_catalog(), speedup=3.0 + 1e-5)  # outside the 1e-6 tolerance


def test_unknown_speedup_with_adjustable_is_adhoc() -> None:
    choice = choose_profile(_catalog(adjustable=True), speedup=2.5)
    assert choice.adjustable and choice.speedup == 2.5 and choice.profile == "s2.5"
    assert not choose_profile(_catalog(adjustable=True), speedup=3.0).adjustable  # shipped beats ad-hoc


@pytest.mark.parametrize("speedup", [0.5, float("nan"), float("inf")])
def test_invalid_speedup(speedup: float) -> None:
    with pytest.raises(PolicyError, match="speedup must be a number >= 1"):
        choose_profile(_catalog(adjustable=True), speedup=speedup)


def test_speedup_conflicts_with_budget_or_floor() -> None:
    with pytest.raises(PolicyError, match="cannot be combined"):
        choose_profile(_catalog(), speedup=3.0, latency_budget_ms=5.0)
    with pytest.raises(PolicyError, match="cannot be combined"):
        choose_profile(_catalog(), speedup=3.0, min_accuracy=0.9)


# ------------------------------------------------------------------------------------------------ interpolation


def test_interpolation_hits_grid_points_and_is_linear_between() -> None:
    rows = [r for r in _latency_rows() if r.profile == "dense"]
    assert interpolate_p99_ms(rows, 1, 64) == pytest.approx(10.0)
    assert interpolate_p99_ms(rows, 1, 96) == pytest.approx(15.0)  # halfway between 64 and 128
    assert interpolate_p99_ms(rows, 4, 128) == pytest.approx(80.0)
    assert interpolate_p99_ms(rows, 2, 64) == pytest.approx(20.0)  # 1/3 of the way from batch 1 (10) to 4 (40)
    assert interpolate_p99_ms(rows, 2, 96) == pytest.approx(30.0)  # bilinear


def test_interpolation_outside_the_grid() -> None:
    rows = [r for r in _latency_rows() if r.profile == "dense" and r.batch == 1]
    assert interpolate_p99_ms(rows, 1, 8) == pytest.approx(5.0)  # below: the smallest measured (safe over-estimate)
    assert interpolate_p99_ms(rows, 1, 256) == pytest.approx(40.0)  # above: last segment extended
    single = [LatencyRow("dense", "ort-cpu", "cpu", 1, 64, 1.0, 2.0)]
    assert interpolate_p99_ms(single, 1, 128) == pytest.approx(4.0)  # one point: proportional above
    assert interpolate_p99_ms(single, 2, 64) == pytest.approx(4.0)
    assert interpolate_p99_ms(single, 1, 16) == pytest.approx(2.0)


def test_interpolation_never_extrapolates_downward() -> None:
    noisy = [LatencyRow("d", "b", "c", 1, 64, 1.0, 5.0), LatencyRow("d", "b", "c", 1, 128, 1.0, 4.0)]
    assert interpolate_p99_ms(noisy, 1, 512) == pytest.approx(4.0)


def test_interpolation_without_rows() -> None:
    with pytest.raises(PolicyError, match="no latency rows"):
        interpolate_p99_ms([], 1, 64)


# ------------------------------------------------------------------------------------------------ latency budget


@pytest.mark.parametrize(
    ("budget", "batch", "seq", "expected"),
    [
        (100.0, 1, 64, "dense"),  # everything fits: most accurate
        (8.0, 1, 64, "s1.5"),  # dense 10 ms does not fit
        (5.0, 1, 64, "s3"),
        (10.0, 1, 96, "s3"),  # interpolated: dense 15, s1.5 10.5, s3 6 ms
        (30.0, 2, 96, "dense"),  # bilinear: dense 30 fits exactly
    ],
)
def test_budget_picks_most_accurate_that_fits(budget: float, batch: int, seq: int, expected: str) -> None:
    choice = choose_profile(_catalog(), latency_budget_ms=budget, batch=batch, seq_len=seq)
    assert choice.profile == expected
    assert choice.p99_ms is not None and choice.p99_ms <= budget
    assert "fits" in choice.reason


def test_budget_impossible_names_fastest_and_best_effort_returns_it() -> None:
    with pytest.raises(
        PolicyError, match=r"no profile fits latency budget 1 ms .*fastest: s3 at p99 ≈ 4 ms.*best_effort"
    ):
        choose_profile(_catalog(), latency_budget_ms=1.0)
    choice = choose_profile(_catalog(), latency_budget_ms=1.0, best_effort=True)
    assert choice.profile == "s3" and "best effort" in choice.reason


def test_budget_uses_rows_of_the_requested_backend_and_device() -> None:
    catalog = _catalog()
    slow_gpu = [LatencyRow(r.profile, "ort-cuda", "gpu", r.batch, r.seq, 0.1, 0.1) for r in _latency_rows()]
    other_cpu = [LatencyRow(r.profile, "ort-cpu", "cpu-b", r.batch, r.seq, 0.1, r.p99_ms / 10) for r in _latency_rows()]
    catalog = Catalog(
        catalog.profiles, Tables(catalog.tables.accuracy, catalog.tables.latency + tuple(slow_gpu + other_cpu))
    )
    assert choose_profile(catalog, latency_budget_ms=5.0).profile == "s3"  # first device listed: cpu-a
    assert choose_profile(catalog, latency_budget_ms=5.0, device="cpu-b").profile == "dense"  # 1 ms there
    assert choose_profile(catalog, latency_budget_ms=5.0, device="unknown").profile == "s3"  # falls back to cpu-a
    assert choose_profile(catalog, latency_budget_ms=0.5, backend="ort-cuda").profile == "dense"
    with pytest.raises(PolicyError, match="no latency rows for backend 'trt'"):
        choose_profile(catalog, latency_budget_ms=5.0, backend="trt")


def test_budget_without_accuracy_table_prefers_least_elimination() -> None:
    choice = choose_profile(_catalog(accuracy=False), latency_budget_ms=8.0)
    assert choice.profile == "s1.5" and choice.accuracy is None


def test_budget_with_accuracy_floor() -> None:
    assert choose_profile(_catalog(), latency_budget_ms=100.0, min_accuracy=0.91).profile == "dense"
    with pytest.raises(PolicyError, match="no profile fits latency budget 5 ms"):
        choose_profile(_catalog(), latency_budget_ms=5.0, min_accuracy=0.91)  # s3 fits but is below the floor
    choice = choose_profile(_catalog(), latency_budget_ms=5.0, min_accuracy=0.91, best_effort=True)
    assert choice.profile == "s1.5"  # fastest among those meeting the floor
    with pytest.raises(PolicyError, match="reaches accuracy 0.99"):
        choose_profile(_catalog(), latency_budget_ms=100.0, min_accuracy=0.99)


def test_budget_without_latency_table() -> None:
    with pytest.raises(PolicyError, match="no latency rows for backend 'ort-cpu'.*calibrate"):
        choose_profile(_catalog(latency=False), latency_budget_ms=5.0)


@pytest.mark.parametrize("budget", [0.0, -1.0, float("nan")])
def test_invalid_budget(budget: float) -> None:
    with pytest.raises(PolicyError, match="latency_budget_ms must be a positive number"):
        choose_profile(_catalog(), latency_budget_ms=budget)


def test_invalid_shape() -> None:
    with pytest.raises(PolicyError, match="batch and seq_len must be >= 1"):
        choose_profile(_catalog(), latency_budget_ms=5.0, seq_len=0)


# ------------------------------------------------------------------------------------------------- min accuracy


@pytest.mark.parametrize(
    ("floor", "expected"), [(0.0, "s3"), (0.90, "s3"), (0.905, "s1.5"), (0.915, "s1.5"), (0.92, "dense")]
)
def test_min_accuracy_picks_fastest_above_floor(floor: float, expected: str) -> None:
    choice = choose_profile(_catalog(), min_accuracy=floor)
    assert choice.profile == expected and choice.accuracy is not None and choice.accuracy >= floor


def test_floor_above_dense_is_impossible_unless_best_effort() -> None:
    with pytest.raises(PolicyError, match=r"no profile reaches accuracy 0.95 on sst2-dev \(best: dense at 0.9200\)"):
        choose_profile(_catalog(), min_accuracy=0.95)
    choice = choose_profile(_catalog(), min_accuracy=0.95, best_effort=True)
    assert choice.profile == "dense" and "best effort" in choice.reason


def test_min_accuracy_without_table() -> None:
    with pytest.raises(PolicyError, match="no accuracy rows"):
        choose_profile(_catalog(accuracy=False), min_accuracy=0.9)


def test_min_accuracy_is_a_fraction() -> None:
    with pytest.raises(PolicyError, match="fraction in \\[0, 1\\], got 90; pass e.g. min_accuracy=0.9"):
        choose_profile(_catalog(), min_accuracy=90)


def test_accuracy_dataset_defaults_to_widest_coverage() -> None:
    rows = (AccuracyRow("s3", "tiny", 10, 0.99),) + tuple(
        AccuracyRow(n, "sst2-dev", 872, a) for n, a in ACCURACY.items()
    )
    dataset, table = accuracy_by_profile(Tables(accuracy=rows))
    assert dataset == "sst2-dev" and table == ACCURACY
    assert accuracy_by_profile(Tables(accuracy=rows), "tiny") == ("tiny", {"s3": 0.99})
    catalog = Catalog(_catalog().profiles, Tables(accuracy=rows))
    assert choose_profile(catalog, min_accuracy=0.91).profile == "s1.5"  # s3 at 0.99 on "tiny" does not count


# --------------------------------------------------------------------------------------------- load adaptive


def _policy(**kwargs: float | int) -> LoadAdaptivePolicy:
    settings = {"high_water_ms": 50.0, "low_water_ms": 10.0, "calm_requests": 3, "window": 2, **kwargs}
    return LoadAdaptivePolicy(["dense", "s1.5", "s3"], **settings)  # type: ignore[arg-type]


def test_steps_faster_when_the_window_mean_exceeds_high_water() -> None:
    policy = _policy()
    assert policy.observe(100.0) == "dense"  # window not full yet: one spike does not step
    assert policy.observe(100.0) == "s1.5"
    assert policy.observe(100.0) == "s1.5"  # window was cleared: needs fresh observations
    assert policy.observe(100.0) == "s3"
    assert policy.observe(100.0) == "s3"
    assert policy.observe(100.0) == "s3"  # already the fastest


def test_steps_back_after_calm_requests_below_low_water() -> None:
    policy = _policy()
    for _ in range(4):
        policy.observe(100.0)
    assert policy.profile == "s3"
    assert [policy.observe(1.0) for _ in range(3)] == ["s3", "s3", "s1.5"]
    assert [policy.observe(1.0) for _ in range(3)] == ["s1.5", "s1.5", "dense"]
    assert [policy.observe(1.0) for _ in range(5)] == ["dense"] * 5  # already the slowest


def test_delay_between_the_marks_holds_the_level() -> None:
    policy = _policy()
    policy.observe(100.0)
    policy.observe(100.0)
    assert policy.profile == "s1.5"
    for _ in range(20):
        assert policy.observe(30.0) == "s1.5"  # neither high (mean 30 < 50) nor low (30 > 10)


def test_calm_streak_is_broken_by_one_busy_request() -> None:
    policy = _policy()
    policy.observe(100.0)
    policy.observe(100.0)
    assert [policy.observe(d) for d in (1.0, 1.0, 20.0, 1.0, 1.0)] == ["s1.5"] * 5
    assert policy.observe(1.0) == "dense"


def test_from_catalog_orders_by_speedup() -> None:
    catalog = Catalog(profiles=[_entry("s3", 3.0), _entry("dense", 1.0), _entry("s1.5", 1.5)])
    policy = LoadAdaptivePolicy.from_catalog(catalog, high_water_ms=5.0, low_water_ms=1.0)
    assert policy.ladder == ("dense", "s1.5", "s3") and policy.profile == "dense" and policy.level == 0


@pytest.mark.parametrize(
    ("ladder", "kwargs", "message"),
    [
        ([], {}, "distinct profile names"),
        (["a", "a"], {}, "distinct profile names"),
        (["a"], {"high_water_ms": 5.0, "low_water_ms": 5.0}, "low_water_ms < high_water_ms"),
        (["a"], {"calm_requests": 0}, "must be >= 1"),
    ],
)
def test_invalid_load_policy(ladder: list[str], kwargs: dict, message: str) -> None:
    settings = {"high_water_ms": 50.0, "low_water_ms": 10.0, **kwargs}
    with pytest.raises(PolicyError, match=message):
        LoadAdaptivePolicy(ladder, **settings)


@pytest.mark.parametrize("delay", [-1.0, float("nan")])
def test_invalid_delay(delay: float) -> None:
    with pytest.raises(PolicyError, match="queue delay"):
        _policy().observe(delay)


def test_budget_with_unreachable_floor_best_effort_says_so() -> None:
    choice = choose_profile(_catalog(), latency_budget_ms=100.0, min_accuracy=0.99, best_effort=True)
    assert choice.profile == "dense" and choice.reason.startswith("best effort: no profile reaches accuracy 0.99")
