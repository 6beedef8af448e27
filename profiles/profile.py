"""Elimination profiles: per-layer keep ratios, their theoretical speedup, and offline-tuning to a target speedup.

A profile is data (docs/DESIGN.md#profiles), so it can travel in a bundle, be searched (``acc.profiles.search``) or be
written by hand; ``profile_for_speedup`` is the paper's one-parameter family (geometric tilt,
docs/METHOD.md#5-offline-tuning).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import ProfileError
from .flops import FLOPS_MODEL_NAME, EncoderShape, encoder_flops
from .keep import keep_counts

DEFAULT_REFERENCE_LENGTH = 128
REPORT_LENGTHS = (64, 128, 512)
_BISECTION_STEPS = 60


@dataclass(frozen=True)
class Profile:
    """One elimination profile. ``keep_ratios[l]`` applies to the sample's valid length before layer l."""

    name: str
    keep_ratios: tuple[float, ...]
    target_speedup: float
    theoretical_speedup: float
    reference_length: int = DEFAULT_REFERENCE_LENGTH
    min_keep: int = 1
    family: str = "geometric"
    tilt: float | None = None
    flops_model: str = FLOPS_MODEL_NAME
    speedup_at: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ratios = self.keep_ratios
        if not ratios:
            raise ProfileError(f"profile {self.name!r} has no keep ratios; give one ratio per encoder layer")
        if ratios[0] != 1.0:
            raise ProfileError(f"profile {self.name!r}: layer 1 must see the whole input (keep_ratios[0]=1.0)")
        if any(not 0.0 < r <= 1.0 for r in ratios):
            raise ProfileError(f"profile {self.name!r}: keep ratios must lie in (0, 1], got {list(ratios)}")
        if any(b > a for a, b in itertools.pairwise(ratios)):
            raise ProfileError(f"profile {self.name!r}: keep ratios must not increase over layers, got {list(ratios)}")
        if self.min_keep < 1:
            raise ProfileError(f"profile {self.name!r}: min_keep must be >= 1 ([CLS] is always kept)")

    @property
    def num_layers(self) -> int:
        return len(self.keep_ratios)

    def keep_counts(self, n_valid: int) -> list[int]:
        """Word-vectors entering each layer for a sample of ``n_valid`` real tokens."""
        return keep_counts(self.keep_ratios, n_valid, self.min_keep)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["keep_ratios"] = list(self.keep_ratios)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Profile:
        try:
            fields = dict(data)
            fields["keep_ratios"] = tuple(float(r) for r in fields["keep_ratios"])
            return cls(**fields)
        except (KeyError, TypeError) as exc:
            raise ProfileError(
                f"not a profile JSON ({exc}); expected keys name, keep_ratios, target_speedup, ..."
            ) from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ProfileError(f"cannot read profile {path}: {exc}; pass a profile JSON written by acc") from exc


def theoretical_speedup(
    keep_ratios: Sequence[float], shape: EncoderShape, reference_length: int, min_keep: int = 1
) -> float:
    """Dense encoder FLOPs over pruned encoder FLOPs for one sample of ``reference_length`` tokens."""
    dense = encoder_flops([reference_length] * len(keep_ratios), shape)
    pruned = encoder_flops(keep_counts(keep_ratios, reference_length, min_keep), shape)
    return dense / pruned


def geometric_ratios(tilt: float, num_layers: int) -> tuple[float, ...]:
    """The tilted profile: ρ_1 = 1, ρ_{l+1} = ρ_l · (1 − tilt)."""
    return tuple(float((1.0 - tilt) ** layer) for layer in range(num_layers))


def max_speedup(shape: EncoderShape, reference_length: int = DEFAULT_REFERENCE_LENGTH, min_keep: int = 1) -> float:
    """Upper bound of the family: layer 1 dense, every later layer at ``min_keep`` word-vectors."""
    ratios = (1.0,) + (1e-9,) * (shape.num_layers - 1)
    return theoretical_speedup(ratios, shape, reference_length, min_keep)


def profile_for_speedup(
    shape: EncoderShape,
    speedup: float,
    reference_length: int = DEFAULT_REFERENCE_LENGTH,
    min_keep: int = 1,
    name: str | None = None,
) -> Profile:
    """Offline-tuning: the geometric profile whose theoretical speedup at ``reference_length`` reaches ``speedup``.

    Bisection on the tilt finds the smallest tilt that reaches the target (speedup is monotone in the tilt),
    so the achieved speedup is at or just above the target.
    """
    name = name or f"s{speedup:g}"
    if not speedup >= 1.0:
        raise ProfileError(f"speedup {speedup:g} is below 1 (elimination cannot slow the model down); ask for >= 1")
    ceiling = max_speedup(shape, reference_length, min_keep)
    if speedup == 1.0:
        return _finish(name, speedup, (1.0,) * shape.num_layers, 0.0, shape, reference_length, min_keep)
    # The last few tenths of the ceiling need tilts so close to 1 that every later layer already sits at min_keep.
    if speedup >= ceiling * 0.999:
        raise ProfileError(
            f"speedup {speedup:g} is unreachable for a {shape.num_layers}-layer model at length {reference_length} "
            f"(max {ceiling * 0.999:.2f} with later layers at {min_keep} token); ask for less"
        )
    lo, hi = 0.0, 1.0 - 1e-12
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        if theoretical_speedup(geometric_ratios(mid, shape.num_layers), shape, reference_length, min_keep) >= speedup:
            hi = mid
        else:
            lo = mid
    # Not rounded: ``hi`` sits just past a ceil() step, and rounding the ratios could step back over it.
    ratios = geometric_ratios(hi, shape.num_layers)
    return _finish(name, speedup, ratios, hi, shape, reference_length, min_keep)


def _finish(
    name: str,
    target: float,
    ratios: tuple[float, ...],
    tilt: float,
    shape: EncoderShape,
    reference_length: int,
    min_keep: int,
) -> Profile:
    achieved = theoretical_speedup(ratios, shape, reference_length, min_keep)
    report = {str(n): round(theoretical_speedup(ratios, shape, n, min_keep), 4) for n in REPORT_LENGTHS}
    return Profile(
        name=name,
        keep_ratios=ratios,
        target_speedup=float(target),
        theoretical_speedup=round(achieved, 4),
        reference_length=reference_length,
        min_keep=min_keep,
        family="geometric",
        tilt=tilt,
        speedup_at=report,
    )


def parse_speedups(text: str) -> list[float]:
    """``"1.5,3,4.8"`` → ``[1.5, 3.0, 4.8]``, with a one-line error naming the bad item."""
    values: list[float] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            values.append(float(item.rstrip("xX")))
        except ValueError:
            raise ProfileError(f"speedup {item!r} is not a number; write speedups like 1.5,3,4.8") from None
    if not values:
        raise ProfileError("no speedups given; write speedups like 1.5,3,4.8")
    return values
