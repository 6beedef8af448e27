"""Evolutionary search over per-layer keep ratios (docs/METHOD.md#7-profile-search), shared by LAT's length search
and ACC offline-tuning.

Why a search: the paper's one-parameter (geometric) family is one line through the space of monotone profiles; a
search over every layer's ratio can find profiles that are more accurate at the same cost. The search only sees an
``objective`` (a callable: keep ratios → score, e.g. accuracy on a held-out split) and a ``cost`` (keep ratios →
cost relative to dense: theoretical FLOPs, or latency interpolated from a measured table), so it is pure Python here
and the caller owns the model.

A candidate is a *gene*, as in LAT's code: the word-vectors each layer keeps at the reference length
(``gene[0] == reference_length``, non-increasing, each ≥ ``min_count``). Genes are exactly representable, so
duplicates are found and never evaluated twice; ``SearchSpace.ratios(gene)`` turns one into keep ratios whose keep
counts at the reference length are exactly the gene (and which apply to any length through the usual rule).
The algorithm follows LAT (arXiv 2010.07003, ``evolution.py``): an initial population spread over the cost range,
then each generation mutates and crosses parents drawn from the Pareto front of everything evaluated so far.
Deterministic for a seed (given a deterministic objective).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import ProfileError
from .flops import FLOPS_MODEL_NAME, EncoderShape, encoder_flops
from .keep import keep_counts
from .profile import (
    DEFAULT_REFERENCE_LENGTH,
    REPORT_LENGTHS,
    Profile,
    theoretical_speedup,
)

Gene = tuple[int, ...]
# Shrinks count/reference so float32 ceil(ratio · n) lands on the count at the reference length (see ratios()).
_RATIO_SHRINK = 1.0 - 1e-6
_MAX_TRIES_PER_CHILD = 50


class Cost(Protocol):
    """Cost of a profile relative to the dense model (dense = 1.0); a budget of speedup s means cost ≤ 1/s."""

    name: str

    def __call__(self, keep_ratios: Sequence[float]) -> float: ...


@dataclass(frozen=True)
class FlopsCost:
    """Encoder FLOPs of the profile over dense FLOPs at ``reference_length``, i.e. 1 / speedup
    (docs/METHOD.md#3-flops-model)."""

    shape: EncoderShape
    reference_length: int = DEFAULT_REFERENCE_LENGTH
    min_keep: int = 1
    name: str = "flops"

    def __call__(self, keep_ratios: Sequence[float]) -> float:
        return 1.0 / theoretical_speedup(keep_ratios, self.shape, self.reference_length, self.min_keep)


@dataclass(frozen=True)
class LatencyCost:
    """Measured latency relative to dense at one (batch, seq) cell of a latency table.

    A profile that was not measured gets a latency interpolated piecewise-linearly in its encoder FLOPs at ``seq``
    between the measured profiles (extended linearly past the ends, never below 1% of dense). The measured points
    carry what FLOPs miss (fixed per-call cost, selection overhead), so a budget in measured speedup maps to the
    FLOPs level the hardware really needs for it. ``points`` are (FLOPs relative to dense, latency ms), sorted.
    """

    points: tuple[tuple[float, float], ...]
    shape: EncoderShape
    seq_len: int
    min_keep: int = 1
    source: str = ""
    name: str = "latency"

    def __post_init__(self) -> None:
        if len({x for x, _ in self.points}) < 2:
            raise ProfileError(
                f"latency table {self.source or '(points)'} has {len(self.points)} distinct profiles at seq "
                f"{self.seq_len}; interpolation needs at least two (dense and one pruned profile); measure more profiles"
            )

    @classmethod
    def from_points(
        cls,
        measured: Sequence[tuple[Sequence[float], float]],
        shape: EncoderShape,
        seq_len: int,
        min_keep: int = 1,
        source: str = "",
    ) -> LatencyCost:
        """From (keep ratios, latency ms) pairs measured at ``seq_len`` tokens (duplicates of a FLOPs level averaged)."""
        dense = encoder_flops([seq_len] * shape.num_layers, shape)
        merged: dict[float, list[float]] = {}
        for ratios, latency_ms in measured:
            if not latency_ms > 0:
                raise ProfileError(f"latency {latency_ms!r} ms in {source or 'points'} is not positive; re-measure")
            rel = encoder_flops(keep_counts(ratios, seq_len, min_keep), shape) / dense
            merged.setdefault(round(rel, 12), []).append(float(latency_ms))
        points = tuple(sorted((x, sum(ys) / len(ys)) for x, ys in merged.items()))
        return cls(points, shape, seq_len, min_keep, source)

    @classmethod
    def from_manifest(
        cls, manifest: Any, batch: int, seq: int, backend: str | None = None, device: str | None = None
    ) -> LatencyCost:
        """From a bundle's measured latency table (``acc.runtime.read_manifest(...)``; read by attribute, so this
        module does not import the runtime): p50 of every shipped profile at (batch, seq) on one backend/device."""
        ratios = {entry.name: entry.profile.keep_ratios for entry in manifest.profiles}
        rows = [
            row
            for row in manifest.tables.latency
            if row.batch == batch and row.seq == seq and row.profile in ratios
            and (backend is None or row.backend == backend) and (device is None or row.device == device)
        ]  # fmt: skip
        devices = sorted({(row.backend, row.device) for row in rows})
        where = f"bundle {getattr(manifest, 'bundle_dir', '?')}"
        if not rows:
            cells = sorted({(row.batch, row.seq) for row in manifest.tables.latency})
            raise ProfileError(
                f"{where} has no latency rows at batch {batch}, seq {seq} (measured cells: {cells or 'none'}); "
                "pick a measured cell or calibrate the bundle (acc-calibrate BUNDLE)"
            )
        if len(devices) > 1:
            raise ProfileError(f"{where} has latency rows from {devices} at b{batch} s{seq}; pass backend and device")
        source = f"{where} {devices[0][0]} {devices[0][1]} b{batch} s{seq} p50"
        measured = [(ratios[row.profile], row.p50_ms) for row in rows]
        return cls.from_points(measured, manifest.model.shape, seq, min_keep=1, source=source)

    def latency_ms(self, keep_ratios: Sequence[float]) -> float:
        if len(keep_ratios) != self.shape.num_layers:
            raise ProfileError(
                f"profile has {len(keep_ratios)} keep ratios, the latency table's model "
                f"{self.shape.num_layers} layers ({self.source}); use the bundle of the searched model"
            )
        dense = encoder_flops([self.seq_len] * self.shape.num_layers, self.shape)
        x = encoder_flops(keep_counts(keep_ratios, self.seq_len, self.min_keep), self.shape) / dense
        return max(_interpolate(self.points, x), 0.01 * self.dense_ms)

    @property
    def dense_ms(self) -> float:
        return _interpolate(self.points, 1.0)

    def __call__(self, keep_ratios: Sequence[float]) -> float:
        return self.latency_ms(keep_ratios) / self.dense_ms


def _interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """y(x) through sorted points, piecewise linear, the end segments extended."""
    if x <= points[0][0]:
        (x0, y0), (x1, y1) = points[0], points[1]
    elif x >= points[-1][0]:
        (x0, y0), (x1, y1) = points[-2], points[-1]
    else:
        index = next(i for i in range(1, len(points)) if points[i][0] >= x)
        (x0, y0), (x1, y1) = points[index - 1], points[index]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass(frozen=True)
class SearchSpace:
    """Monotone genes of ``num_layers`` keep counts at ``reference_length``; layer 1 always keeps everything."""

    num_layers: int
    reference_length: int = DEFAULT_REFERENCE_LENGTH
    min_count: int = 1

    def __post_init__(self) -> None:
        if self.num_layers < 2:
            raise ProfileError(f"a {self.num_layers}-layer encoder has no layer to prune; search needs >= 2 layers")
        if not 1 <= self.min_count <= self.reference_length:
            raise ProfileError(f"min_count={self.min_count} must lie in [1, reference_length={self.reference_length}]")

    def full(self) -> Gene:
        return (self.reference_length,) * self.num_layers

    def smallest(self) -> Gene:
        return (self.reference_length,) + (self.min_count,) * (self.num_layers - 1)

    def ratios(self, gene: Gene) -> tuple[float, ...]:
        """Keep ratios whose float32 keep counts at the reference length are exactly ``gene``.

        count/reference is shrunk by 1e-6 (relative) so float32 rounding can never push ceil() one token up; at any
        other length the count is the same as with the exact quotient unless that product is an exact integer.
        """
        ref = self.reference_length
        return tuple(1.0 if count >= ref else count / ref * _RATIO_SHRINK for count in gene)

    def gene(self, keep_ratios: Sequence[float]) -> Gene:
        """The gene a profile's ratios give at the reference length (a geometric profile as a search seed)."""
        if len(keep_ratios) != self.num_layers:
            raise ProfileError(f"profile has {len(keep_ratios)} ratios, the search space {self.num_layers} layers")
        return self.repair(keep_counts(keep_ratios, self.reference_length, self.min_count))

    def repair(self, counts: Sequence[int]) -> Gene:
        """Layer 1 at the reference length, every count in [min_count, previous count]."""
        out = [self.reference_length]
        for count in counts[1:]:
            out.append(max(self.min_count, min(int(count), out[-1])))
        return tuple(out)

    def random(self, rng: random.Random, max_drop: float) -> Gene:
        """LengthDrop-style sample: each later layer keeps ``(1 - p_l)`` of the previous one, ``p_l ~ U(0, max_drop)``."""
        counts = [float(self.reference_length)]
        for _ in range(self.num_layers - 1):
            counts.append(counts[-1] * (1.0 - rng.uniform(0.0, max_drop)))
        return self.repair([math.floor(c) for c in counts])

    def mutate(self, gene: Gene, rng: random.Random, prob: float) -> Gene:
        """Each later layer is resampled with probability ``prob`` between its successor's count and its (new)
        predecessor's, so the child stays monotone (LAT's mutation)."""
        out = [gene[0]]
        for layer in range(1, self.num_layers):
            if rng.random() < prob:
                upper = out[-1]
                lower = self.min_count if layer == self.num_layers - 1 else min(gene[layer + 1], upper)
                out.append(rng.randint(lower, upper))
            else:
                out.append(gene[layer])
        return self.repair(out)

    def crossover(self, first: Gene, second: Gene, rng: random.Random) -> Gene:
        """Each layer's count from one parent or the other, then made monotone (docs/METHOD.md#7-profile-search)."""
        return self.repair([a if rng.random() < 0.5 else b for a, b in zip(first, second)])


@dataclass(frozen=True)
class SearchOptions:
    """How much searching; defaults are LAT's GLUE settings scaled to a 20-candidate population."""

    population: int = 20  # initial random candidates, spread over the cost range (besides full, smallest, seeds)
    generations: int = 30
    mutations: int = 10  # new candidates per generation from mutation
    crossovers: int = 10  # new candidates per generation from crossover
    mutation_prob: float = 0.5
    seed: int = 0
    max_seconds: float | None = None  # anytime: no new generation starts after this much wall time

    def __post_init__(self) -> None:
        for name in ("population", "generations", "mutations", "crossovers"):
            if getattr(self, name) < 0:
                raise ProfileError(f"search {name}={getattr(self, name)} must not be negative")
        if not 0.0 < self.mutation_prob <= 1.0:
            raise ProfileError(f"mutation_prob={self.mutation_prob} must lie in (0, 1]")


@dataclass(frozen=True)
class Candidate:
    """One evaluated profile: its gene, keep ratios, score (higher is better) and cost relative to dense."""

    gene: Gene
    keep_ratios: tuple[float, ...]
    score: float
    cost: float
    generation: int  # 0 for the initial population
    origin: str  # "full", "smallest", "seed", "init", "mutation" or "crossover"

    @property
    def speedup(self) -> float:
        """1 / cost: the theoretical speedup for a FLOPs cost, the interpolated measured one for a latency cost."""
        return 1.0 / self.cost

    def to_dict(self) -> dict[str, Any]:
        return {"gene": list(self.gene), "keep_ratios": list(self.keep_ratios), "score": self.score,
                "cost": self.cost, "speedup": self.speedup, "generation": self.generation, "origin": self.origin}  # fmt: skip


@dataclass(frozen=True)
class SearchResult:
    """Everything evaluated, the Pareto front (cost ↑), and the best candidate per budget (minimum speedup)."""

    candidates: tuple[Candidate, ...]
    pareto: tuple[Candidate, ...]
    best: Mapping[float, Candidate | None]
    generations: int  # generations completed (fewer than asked when max_seconds stopped the search)
    cost_name: str
    seconds: float
    options: SearchOptions = field(default_factory=SearchOptions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cost": self.cost_name,
            "generations": self.generations,
            "evaluations": len(self.candidates),
            "seconds": round(self.seconds, 3),
            "options": {k: getattr(self.options, k) for k in SearchOptions.__dataclass_fields__},
            "pareto": [c.to_dict() for c in self.pareto],
            "best": [{"min_speedup": b, "candidate": None if c is None else c.to_dict()} for b, c in self.best.items()],
        }


def pareto_front(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Candidates no other candidate beats on both score (≥) and cost (≤, one strictly better), by cost."""
    front: list[Candidate] = []
    for cand in sorted(candidates, key=lambda c: (c.cost, -c.score)):
        if not front or cand.score > front[-1].score:
            front.append(cand)
    return front


def best_under_budget(candidates: Sequence[Candidate], min_speedup: float) -> Candidate | None:
    """Highest score among candidates with cost ≤ 1/min_speedup (ties: the cheaper one); None if none fits."""
    fits = [c for c in candidates if c.cost <= 1.0 / min_speedup + 1e-12]
    return max(fits, key=lambda c: (c.score, -c.cost), default=None)


def evolutionary_search(
    objective: Callable[[tuple[float, ...]], float],
    cost: Cost,
    space: SearchSpace,
    budgets: Sequence[float] = (),
    options: SearchOptions | None = None,
    seeds: Sequence[Sequence[float]] = (),
    on_generation: Callable[[int, Sequence[Candidate]], None] | None = None,
) -> SearchResult:
    """Search keep ratios for the best ``objective`` at each budget (minimum speedup, i.e. cost ≤ 1/budget).

    ``seeds`` are keep-ratio profiles evaluated first (e.g. the geometric profile at each budget, so the search
    starts from the one-parameter family and can only improve on it, as measured by the objective).
    ``on_generation(generation, front)`` is called after the initial population and after each generation.
    """
    options = options or SearchOptions()
    for budget in budgets:
        if not budget >= 1.0:
            raise ProfileError(f"budget {budget:g} is a minimum speedup and must be >= 1")
    rng = random.Random(options.seed)
    started = time.perf_counter()
    store: dict[Gene, Candidate] = {}

    def add(gene: Gene, generation: int, origin: str) -> bool:
        if gene in store:
            return False
        ratios = space.ratios(gene)
        store[gene] = Candidate(gene, ratios, float(objective(ratios)), float(cost(ratios)), generation, origin)
        return True

    add(space.full(), 0, "full")
    add(space.smallest(), 0, "smallest")
    for ratios in seeds:
        add(space.gene(ratios), 0, "seed")
    for index in range(options.population):  # drop bounds spread over (0, 1): costs from near-dense to near-smallest
        max_drop = (index + 1) / (options.population + 1)
        for _ in range(_MAX_TRIES_PER_CHILD):
            if add(space.random(rng, max_drop), 0, "init"):
                break
    if on_generation is not None:
        on_generation(0, pareto_front(list(store.values())))

    done = 0
    for generation in range(1, options.generations + 1):
        if options.max_seconds is not None and time.perf_counter() - started > options.max_seconds:
            break
        parents = [c.gene for c in pareto_front(list(store.values()))]
        _breed(options.mutations, lambda: space.mutate(rng.choice(parents), rng, options.mutation_prob),
               lambda gene: add(gene, generation, "mutation"))  # fmt: skip
        if len(parents) >= 2:
            _breed(options.crossovers, lambda: space.crossover(*rng.sample(parents, 2), rng),
                   lambda gene: add(gene, generation, "crossover"))  # fmt: skip
        done = generation
        if on_generation is not None:
            on_generation(generation, pareto_front(list(store.values())))

    candidates = tuple(store.values())
    best = {float(b): best_under_budget(candidates, b) for b in budgets}
    return SearchResult(candidates, tuple(pareto_front(candidates)), best, done, cost.name,
                        time.perf_counter() - started, options)  # fmt: skip


def _breed(count: int, make: Callable[[], Gene], add: Callable[[Gene], bool]) -> None:
    """Add ``count`` new genes; a child already evaluated is redrawn (bounded, so a tiny space cannot loop forever)."""
    added = 0
    for _ in range(count * _MAX_TRIES_PER_CHILD):
        if added == count:
            return
        added += add(make())


def searched_profile(
    name: str,
    keep_ratios: Sequence[float],
    shape: EncoderShape,
    reference_length: int = DEFAULT_REFERENCE_LENGTH,
    min_keep: int = 1,
    family: str = "searched",
    target_speedup: float | None = None,
) -> Profile:
    """A profile JSON record for ratios that did not come from the geometric family (searched, learned, sampled)."""
    ratios = tuple(float(r) for r in keep_ratios)
    achieved = theoretical_speedup(ratios, shape, reference_length, min_keep)
    report = {str(n): round(theoretical_speedup(ratios, shape, n, min_keep), 4) for n in REPORT_LENGTHS}
    return Profile(
        name=name,
        keep_ratios=ratios,
        target_speedup=float(achieved if target_speedup is None else target_speedup),
        theoretical_speedup=round(achieved, 4),
        reference_length=reference_length,
        min_keep=min_keep,
        family=family,
        tilt=None,
        flops_model=FLOPS_MODEL_NAME,
        speedup_at=report,
    )
