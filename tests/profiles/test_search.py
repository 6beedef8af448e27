"""acc.profiles.search: genes and their ratios, mutation/crossover bounds, the search on toy objectives, costs."""

from __future__ import annotations

import itertools
import random

import pytest

from acc.profiles import EncoderShape, ProfileError, keep_counts, profile_for_speedup, theoretical_speedup
from acc.profiles.search import (
    Candidate,
    FlopsCost,
    LatencyCost,
    SearchOptions,
    SearchSpace,
    best_under_budget,
    evolutionary_search,
    pareto_front,
    searched_profile,
)

MINILM = EncoderShape(num_layers=6, hidden_size=384, intermediate_size=1536, num_heads=12)


def _monotone(gene, space) -> bool:
    return gene[0] == space.reference_length and all(space.min_count <= b <= a for a, b in itertools.pairwise(gene))


@pytest.mark.parametrize("reference_length", [128, 100, 37])
def test_gene_ratios_give_exactly_the_gene_at_the_reference_length(reference_length) -> None:
    space = SearchSpace(num_layers=4, reference_length=reference_length)
    rng = random.Random(0)
    for _ in range(200):
        gene = space.random(rng, 0.9)
        assert keep_counts(space.ratios(gene), reference_length) == list(gene)
        assert space.gene(space.ratios(gene)) == gene


def test_mutation_and_crossover_stay_monotone_and_in_bounds() -> None:
    space = SearchSpace(num_layers=6, reference_length=64, min_count=2)
    rng = random.Random(1)
    genes = [space.random(rng, rng.random()) for _ in range(50)]
    for _ in range(500):
        a, b = rng.sample(genes, 2)
        assert _monotone(space.mutate(a, rng, 0.7), space)
        child = space.crossover(a, b, rng)
        assert _monotone(child, space)
        assert all(
            min(x, y) <= c <= max(x, y) or c == child[i - 1] for i, (x, y, c) in enumerate(zip(a, b, child)) if i
        )


def test_geometric_seed_round_trips_through_a_gene() -> None:
    space = SearchSpace(num_layers=6)
    profile = profile_for_speedup(MINILM, 3.0)
    gene = space.gene(profile.keep_ratios)
    assert list(gene) == profile.keep_counts(128)
    assert theoretical_speedup(space.ratios(gene), MINILM, 128) == pytest.approx(profile.theoretical_speedup, abs=1e-4)


def test_pareto_front_and_budget_pick() -> None:
    def cand(score, cost):
        return Candidate((4, 4), (1.0, 1.0), score, cost, 0, "init")

    a, b, c, d = cand(0.9, 1.0), cand(0.8, 0.5), cand(0.7, 0.6), cand(0.85, 0.5)
    assert pareto_front([a, b, c, d]) == [d, a]
    assert best_under_budget([a, b, c, d], 2.0) is d
    assert best_under_budget([a, b, c, d], 1.0) is a
    assert best_under_budget([a, b], 3.0) is None


def _toy_score(ratios) -> float:
    """Early layers matter more than late ones: the best profile under a budget keeps layers 2-3, drops the rest."""
    weights = (0.0, 3.0, 2.0, 1.0)
    return sum(w * r for w, r in zip(weights, ratios))


def test_search_improves_a_toy_objective_to_its_optimum_within_the_budget() -> None:
    shape = EncoderShape(num_layers=4, hidden_size=64, intermediate_size=256, num_heads=4)
    space = SearchSpace(num_layers=4, reference_length=16)
    cost = FlopsCost(shape, reference_length=16)
    budgets = (1.5, 2.0, 3.0)
    options = SearchOptions(population=6, generations=25, mutations=6, crossovers=6, seed=3)
    result = evolutionary_search(_toy_score, cost, space, budgets, options)

    # Exhaustive optimum over every monotone gene (16^3 of them before the monotone filter).
    genes = [space.repair((16,) + rest) for rest in itertools.product(range(1, 17), repeat=3)]
    initial = [c for c in result.candidates if c.generation == 0]
    improvement = 0.0
    for budget in budgets:
        optimum = max(_toy_score(space.ratios(g)) for g in genes if cost(space.ratios(g)) <= 1 / budget)
        best = result.best[budget]
        assert best is not None and best.cost <= 1 / budget + 1e-12  # respects the budget
        assert best.score >= optimum - 0.1  # reaches (near) the exhaustive optimum
        first = best_under_budget(initial, budget)
        improvement += best.score - (first.score if first else 0.0)
    assert improvement > 1.0  # the generations, not the initial population, found it
    assert result.generations == 25
    assert len({c.gene for c in result.candidates}) == len(result.candidates)  # nothing evaluated twice
    assert all(_monotone(c.gene, space) for c in result.candidates)


def test_search_is_deterministic_for_a_seed_and_seeds_are_evaluated() -> None:
    space = SearchSpace(num_layers=6)
    cost = FlopsCost(MINILM)
    seed_profile = profile_for_speedup(MINILM, 2.0)
    options = SearchOptions(population=5, generations=3, mutations=4, crossovers=4, seed=7)
    runs = [evolutionary_search(_toy_score, cost, space, (2.0,), options, seeds=[seed_profile.keep_ratios])
            for _ in range(2)]  # fmt: skip
    assert [c.gene for c in runs[0].candidates] == [c.gene for c in runs[1].candidates]
    assert space.gene(seed_profile.keep_ratios) in {c.gene for c in runs[0].candidates if c.origin == "seed"}
    assert runs[0].best[2.0].score >= _toy_score(seed_profile.keep_ratios) - 1e-6


def test_search_stops_on_max_seconds_and_rejects_bad_budgets() -> None:
    space = SearchSpace(num_layers=3, reference_length=8)
    cost = FlopsCost(EncoderShape(3, 64, 256, 4), reference_length=8)
    result = evolutionary_search(
        _toy_score, cost, space, (), SearchOptions(population=2, generations=50, max_seconds=0.0)
    )
    assert result.generations == 0
    with pytest.raises(ProfileError, match="minimum speedup"):
        evolutionary_search(_toy_score, cost, space, (0.5,))


def test_latency_cost_interpolates_between_measured_profiles() -> None:
    s2, s4 = profile_for_speedup(MINILM, 2.0), profile_for_speedup(MINILM, 4.0)
    dense = (1.0,) * 6
    cost = LatencyCost.from_points([(dense, 10.0), (s2.keep_ratios, 6.0), (s4.keep_ratios, 4.0)], MINILM, seq_len=128)
    assert cost(dense) == pytest.approx(1.0)
    assert cost.latency_ms(s2.keep_ratios) == pytest.approx(6.0)
    s3 = profile_for_speedup(MINILM, 3.0).keep_ratios
    assert 4.0 < cost.latency_ms(s3) < 6.0
    assert cost(s3) > FlopsCost(MINILM)(s3)  # this table's fixed cost makes pruning pay less than FLOPs promise
    with pytest.raises(ProfileError, match="at least two"):
        LatencyCost.from_points([(dense, 10.0)], MINILM, seq_len=128)


def test_latency_cost_from_a_bundle_latency_table(tiny_export_bundle, tmp_path) -> None:
    import shutil

    from acc.runtime import read_manifest, update_manifest_tables

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_export_bundle, bundle)
    rows = [{"profile": "dense", "batch": 8, "seq": 64, "p50_ms": 5.0, "p99_ms": 6.0},
            {"profile": "s1.5", "batch": 8, "seq": 64, "p50_ms": 4.0, "p99_ms": 5.0}]  # fmt: skip
    manifest = update_manifest_tables(bundle, latency_rows=rows, backend="ort-cpu", device="test-cpu")
    cost = LatencyCost.from_manifest(manifest, batch=8, seq=64)
    s15 = next(p.profile for p in manifest.profiles if p.name == "s1.5")
    assert cost.dense_ms == pytest.approx(5.0)
    assert cost.latency_ms(s15.keep_ratios) == pytest.approx(4.0)
    with pytest.raises(ProfileError, match="no latency rows at batch 1, seq 64"):
        LatencyCost.from_manifest(read_manifest(bundle, verify=False), batch=1, seq=64)


def test_searched_profile_is_a_valid_profile_record() -> None:
    space = SearchSpace(num_layers=6)
    ratios = space.ratios((128, 100, 60, 30, 10, 3))
    profile = searched_profile("search-2x", ratios, MINILM, target_speedup=2.0)
    assert profile.family == "searched" and profile.target_speedup == 2.0
    assert profile.theoretical_speedup == pytest.approx(theoretical_speedup(ratios, MINILM, 128), abs=1e-4)
    assert set(profile.speedup_at) == {"64", "128", "512"}
