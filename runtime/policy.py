"""Which profile serves a request: pure functions over the manifest's profile list and measured tables.

No I/O and no clock, so every rule is unit-tested without a bundle or a GPU (docs/DESIGN.md#runtime). The runtime
asks ``choose_profile`` once per request with the request's padded (batch, seq); a serving loop that wants to
trade accuracy for throughput under load drives a ``LoadAdaptivePolicy`` with its measured queue delay.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from acc.profiles import PolicyError

from .bundle_format import AdjustableEntry, LatencyRow, ProfileEntry, Tables

SPEEDUP_TOLERANCE = 1e-6
DENSE = "dense"


@dataclass(frozen=True)
class Choice:
    """The profile to run and why. ``adjustable`` means: run the adjustable graph offline-tuned to ``speedup``."""

    profile: str
    reason: str
    adjustable: bool = False
    speedup: float | None = None
    p99_ms: float | None = None
    accuracy: float | None = None


class ProfileCatalog(Protocol):
    """What the policy reads; a ``Manifest`` is one. Tests may pass any object with these attributes."""

    @property
    def profiles(self) -> Sequence[ProfileEntry]: ...

    @property
    def tables(self) -> Tables: ...

    @property
    def adjustable(self) -> AdjustableEntry | None: ...


def choose_profile(
    catalog: ProfileCatalog,
    *,
    speedup: float | None = None,
    latency_budget_ms: float | None = None,
    min_accuracy: float | None = None,
    batch: int = 1,
    seq_len: int = 64,
    backend: str = "ort-cpu",
    device: str | None = None,
    dataset: str | None = None,
    best_effort: bool = False,
) -> Choice:
    """Pick a profile for one request.

    - ``speedup``: the shipped profile with that target speedup (±1e-6); else an ad-hoc one on the adjustable
      graph; else ``PolicyError``. It fixes the profile, so it cannot be combined with the other two.
    - ``latency_budget_ms``: the most accurate profile whose p99 at (batch, seq_len), interpolated from the latency
      rows of ``backend`` (on ``device`` when rows exist for it), fits the budget. With ``min_accuracy`` as well,
      only profiles meeting the floor compete. Nothing fits → ``PolicyError``, or the fastest with ``best_effort``.
    - ``min_accuracy`` alone: the fastest (highest target speedup) profile whose accuracy on ``dataset`` (default:
      the data set covering most profiles) is at least the floor. None → ``PolicyError``, or with ``best_effort``
      the most accurate profile (dense in practice).
    - nothing: the profile named ``dense``, else the one with the lowest target speedup.
    """
    _check_request(speedup, latency_budget_ms, min_accuracy, batch, seq_len)
    if speedup is not None:
        if latency_budget_ms is not None or min_accuracy is not None:
            raise PolicyError(
                "speedup= fixes the profile and cannot be combined with latency_budget_ms= or min_accuracy=; pass one"
            )
        return _by_speedup(catalog, speedup)
    if latency_budget_ms is not None:
        return _by_latency(
            catalog, latency_budget_ms, min_accuracy, batch, seq_len, backend, device, dataset, best_effort
        )
    if min_accuracy is not None:
        return _by_accuracy(catalog, min_accuracy, dataset, best_effort)
    return _default(catalog)


def _check_request(speedup: float | None, budget: float | None, floor: float | None, batch: int, seq_len: int) -> None:
    if speedup is not None and not (math.isfinite(speedup) and speedup >= 1.0):
        raise PolicyError(f"speedup must be a number >= 1 (1 = dense), got {speedup!r}; pass e.g. speedup=2.0")
    if budget is not None and not (math.isfinite(budget) and budget > 0):
        raise PolicyError(f"latency_budget_ms must be a positive number, got {budget!r}; pass e.g. 20.0")
    if floor is not None and not 0.0 <= floor <= 1.0:
        raise PolicyError(f"min_accuracy is a fraction in [0, 1], got {floor!r}; pass e.g. min_accuracy=0.9 for 90%")
    if batch < 1 or seq_len < 1:
        raise PolicyError(f"batch and seq_len must be >= 1, got batch={batch} seq_len={seq_len}; pass the padded shape")


def _speedups(catalog: ProfileCatalog) -> str:
    return ", ".join(f"{entry.target_speedup:g}" for entry in sorted(catalog.profiles, key=lambda e: e.target_speedup))


def _by_speedup(catalog: ProfileCatalog, speedup: float) -> Choice:
    for entry in catalog.profiles:
        if abs(entry.target_speedup - speedup) <= SPEEDUP_TOLERANCE:
            return Choice(entry.name, f"shipped profile with target speedup {speedup:g}", speedup=entry.target_speedup)
    if catalog.adjustable is not None:
        return Choice(
            f"s{speedup:g}",
            f"no shipped profile at {speedup:g}x; adjustable graph offline-tuned to {speedup:g}x",
            adjustable=True,
            speedup=speedup,
        )
    raise PolicyError(
        f"no profile with speedup {speedup:g} in this bundle (shipped: {_speedups(catalog) or 'none'}; no adjustable "
        "graph); pass one of the shipped speedups or re-export with an adjustable graph"
    )


def _default(catalog: ProfileCatalog) -> Choice:
    for entry in catalog.profiles:
        if entry.name == DENSE:
            return Choice(entry.name, "no request constraint; dense profile", speedup=entry.target_speedup)
    if catalog.profiles:
        entry = min(catalog.profiles, key=lambda e: e.target_speedup)
        reason = "no request constraint and no 'dense' profile; lowest speedup"
        return Choice(entry.name, reason, speedup=entry.target_speedup)
    return Choice("s1", "no request constraint; adjustable graph at 1x (dense)", adjustable=True, speedup=1.0)


# ---------------------------------------------------------------------------------------------------- accuracy


def accuracy_by_profile(tables: Tables, dataset: str | None = None) -> tuple[str | None, dict[str, float]]:
    """``(dataset, {profile: accuracy})`` from one data set, so profiles are compared on the same examples.

    Without ``dataset`` the data set with rows for the most profiles wins (ties: the first listed).
    """
    if dataset is None:
        coverage: dict[str, set[str]] = {}
        for row in tables.accuracy:
            coverage.setdefault(row.dataset, set()).add(row.profile)
        if not coverage:
            return None, {}
        dataset = max(coverage, key=lambda name: len(coverage[name]))
    return dataset, {row.profile: row.accuracy for row in tables.accuracy if row.dataset == dataset}


def _by_accuracy(catalog: ProfileCatalog, floor: float, dataset: str | None, best_effort: bool) -> Choice:
    dataset, accuracy = accuracy_by_profile(catalog.tables, dataset)
    scored = [entry for entry in catalog.profiles if entry.name in accuracy]
    if not scored:
        raise PolicyError(
            f"bundle has no accuracy rows{f' for data set {dataset!r}' if dataset else ''}; ask with speedup= or "
            "latency_budget_ms=, or re-export with evaluation"
        )
    qualified = [entry for entry in scored if accuracy[entry.name] >= floor]
    if qualified:
        entry = max(qualified, key=lambda e: (e.target_speedup, accuracy[e.name]))
        return Choice(
            entry.name,
            f"fastest profile with accuracy {accuracy[entry.name]:.4f} >= {floor:g} on {dataset}",
            speedup=entry.target_speedup,
            accuracy=accuracy[entry.name],
        )
    best = max(scored, key=lambda e: (accuracy[e.name], -e.target_speedup))
    if best_effort:
        return Choice(
            best.name,
            f"best effort: no profile reaches accuracy {floor:g} on {dataset}; most accurate is "
            f"{accuracy[best.name]:.4f}",
            speedup=best.target_speedup,
            accuracy=accuracy[best.name],
        )
    raise PolicyError(
        f"no profile reaches accuracy {floor:g} on {dataset} (best: {best.name} at {accuracy[best.name]:.4f}); "
        "lower min_accuracy or pass best_effort=True"
    )


# ----------------------------------------------------------------------------------------------------- latency


def interpolate_p99_ms(rows: Sequence[LatencyRow], batch: int, seq_len: int) -> float:
    """p99 of one profile at (batch, seq_len), piecewise linear in seq (per measured batch), then in batch.

    Below the smallest measured point the smallest value is used (an over-estimate, so budgets stay safe);
    above the largest, the last segment is extended (never downward), or scaled proportionally from one point.
    """
    if not rows:
        raise PolicyError("no latency rows to interpolate from; calibrate the bundle on this backend first")
    by_batch: dict[int, list[tuple[float, float]]] = {}
    for row in rows:
        by_batch.setdefault(row.batch, []).append((float(row.seq), row.p99_ms))
    per_batch = [(float(b), _interp(sorted(points), float(seq_len))) for b, points in sorted(by_batch.items())]
    return _interp(per_batch, float(batch))


def _interp(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear y(x) through points sorted by x (duplicates of x are averaged)."""
    merged: dict[float, list[float]] = {}
    for px, py in points:
        merged.setdefault(px, []).append(py)
    xs = sorted(merged)
    ys = [sum(merged[px]) / len(merged[px]) for px in xs]
    if x <= xs[0]:
        return ys[0]
    if len(xs) == 1:
        return ys[0] * x / xs[0]
    if x >= xs[-1]:
        slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
        return ys[-1] + max(slope, 0.0) * (x - xs[-1])
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    raise PolicyError(f"cannot interpolate latency at {x:g} from points {points}; report this as a bug")


def _latency_rows(tables: Tables, backend: str, device: str | None) -> tuple[str | None, list[LatencyRow]]:
    """Rows of one (backend, device): the requested device if it has rows, else the first device listed."""
    rows = [row for row in tables.latency if row.backend == backend]
    if not rows:
        return None, []
    devices = list(dict.fromkeys(row.device for row in rows))
    chosen = device if device in devices else devices[0]
    return chosen, [row for row in rows if row.device == chosen]


def _by_latency(
    catalog: ProfileCatalog,
    budget_ms: float,
    floor: float | None,
    batch: int,
    seq_len: int,
    backend: str,
    device: str | None,
    dataset: str | None,
    best_effort: bool,
) -> Choice:
    chosen_device, rows = _latency_rows(catalog.tables, backend, device)
    dataset, accuracy = accuracy_by_profile(catalog.tables, dataset)
    shape = f"batch {batch}, seq {seq_len} on {backend}/{chosen_device}"
    estimates = {
        entry.name: interpolate_p99_ms(mine, batch, seq_len)
        for entry in catalog.profiles
        if (mine := [row for row in rows if row.profile == entry.name])
    }
    if not estimates:
        raise PolicyError(
            f"bundle has no latency rows for backend {backend!r}; calibrate it on this machine "
            "(acc-calibrate BUNDLE) or ask with speedup= / min_accuracy="
        )
    timed = [e for e in catalog.profiles if e.name in estimates]
    candidates = timed if floor is None else [e for e in timed if accuracy.get(e.name, -1.0) >= floor]
    prefix = ""
    if not candidates:
        if not best_effort:
            raise PolicyError(
                f"no profile with latency rows reaches accuracy {floor:g}; lower min_accuracy or pass best_effort=True"
            )
        candidates, prefix = timed, f"best effort: no profile reaches accuracy {floor:g}; "
    fits = [e for e in candidates if estimates[e.name] <= budget_ms]
    if fits:
        # Most accurate first; unknown accuracy ranks after known, then less elimination, then faster.
        entry = min(fits, key=lambda e: (-accuracy.get(e.name, -1.0), e.target_speedup, estimates[e.name]))
        p99 = estimates[entry.name]
        return Choice(
            entry.name,
            f"{prefix}most accurate profile whose p99 ≈ {p99:.3g} ms fits {budget_ms:g} ms at {shape}",
            speedup=entry.target_speedup,
            p99_ms=p99,
            accuracy=accuracy.get(entry.name),
        )
    fastest = min(candidates, key=lambda e: estimates[e.name])
    if best_effort:
        return Choice(
            fastest.name,
            f"best effort: nothing fits {budget_ms:g} ms at {shape}; fastest p99 ≈ {estimates[fastest.name]:.3g} ms",
            speedup=fastest.target_speedup,
            p99_ms=estimates[fastest.name],
            accuracy=accuracy.get(fastest.name),
        )
    raise PolicyError(
        f"no profile fits latency budget {budget_ms:g} ms at {shape} (fastest: {fastest.name} at p99 ≈ "
        f"{estimates[fastest.name]:.3g} ms); raise the budget or pass best_effort=True"
    )


# ---------------------------------------------------------------------------------------------- load adaptive


class LoadAdaptivePolicy:
    """Hysteresis over a ladder of profiles ordered slowest (most accurate) to fastest.

    When the mean queue delay of the last ``window`` requests exceeds ``high_water_ms`` it steps one profile
    faster and forgets the window, so the next step needs ``window`` fresh observations (no cascade to the
    fastest profile on one burst). After ``calm_requests`` consecutive delays below ``low_water_ms`` it steps one
    profile back. The gap between the marks keeps it from flapping. Thread-safe; no clock, the caller measures.
    """

    def __init__(
        self,
        ladder: Sequence[str],
        *,
        high_water_ms: float,
        low_water_ms: float,
        calm_requests: int = 32,
        window: int = 4,
    ) -> None:
        if not ladder or len(set(ladder)) != len(ladder):
            raise PolicyError(f"ladder must list distinct profile names, got {list(ladder)}; pass e.g. ['dense', 's3']")
        if not 0.0 <= low_water_ms < high_water_ms:
            raise PolicyError(
                f"need 0 <= low_water_ms < high_water_ms, got {low_water_ms} and {high_water_ms}; leave a gap between"
            )
        if calm_requests < 1 or window < 1:
            raise PolicyError(f"calm_requests and window must be >= 1, got {calm_requests} and {window}")
        self.ladder = tuple(ladder)
        self.high_water_ms = float(high_water_ms)
        self.low_water_ms = float(low_water_ms)
        self.calm_requests = calm_requests
        self._recent: deque[float] = deque(maxlen=window)
        self._level = 0
        self._calm = 0
        self._lock = threading.Lock()

    @classmethod
    def from_catalog(cls, catalog: ProfileCatalog, **kwargs: float) -> LoadAdaptivePolicy:
        """Ladder of the shipped profiles by increasing target speedup."""
        ladder = [entry.name for entry in sorted(catalog.profiles, key=lambda e: e.target_speedup)]
        return cls(ladder, **kwargs)  # type: ignore[arg-type]

    @property
    def level(self) -> int:
        return self._level

    @property
    def profile(self) -> str:
        return self.ladder[self._level]

    def observe(self, queue_delay_ms: float) -> str:
        """Record one request's queue delay (ms); return the profile for the next request."""
        if not (math.isfinite(queue_delay_ms) and queue_delay_ms >= 0):
            raise PolicyError(f"queue delay must be a finite number of ms >= 0, got {queue_delay_ms!r}")
        with self._lock:
            self._recent.append(queue_delay_ms)
            self._calm = self._calm + 1 if queue_delay_ms < self.low_water_ms else 0
            full = len(self._recent) == self._recent.maxlen
            busy = full and sum(self._recent) / len(self._recent) > self.high_water_ms
            if busy and self._level < len(self.ladder) - 1:
                self._step(+1)
            elif self._calm >= self.calm_requests and self._level > 0:
                self._step(-1)
            return self.ladder[self._level]

    def _step(self, direction: int) -> None:
        self._level += direction
        self._recent.clear()
        self._calm = 0
