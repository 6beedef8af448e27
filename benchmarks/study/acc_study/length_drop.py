"""Length-Adaptive Transformer's LengthDrop (Kim & Cho, arXiv 2010.07003), as keep-ratio profiles
(docs/METHOD.md#6-baselines).

LengthDrop: after each layer, a sampled fraction ``p_l ~ U(0, p)`` of the surviving word-vectors is dropped (by the
same attention significance as ACC), ``ℓ_{l+1} = (1 − p_l)·ℓ_l``. Sandwich rule: every step trains the full model,
the smallest one (every ``p_l = p``) and ``num_random`` sampled ones; in-place distillation: the sub-models learn
from the full model's soft predictions. Those are exactly the configurations ``finetune._train_step`` runs, so
LAT trains through the same step as ACC's sandwich mode and differs only in *which* profiles a step samples.

**Our decisions** (docs/study.md): a sample is stored as keep ratios ``ρ_{l+1} = ρ_l·(1 − p_l)`` and applied with
the usual keep-count rule (``ceil(ρ_l·n_valid)``, per sample), so LAT, ACC and PoWER-BERT share one forward pass and
one FLOPs model; against LAT's ``floor`` chain on absolute counts this keeps at most one more word-vector per layer.
``p`` is chosen so the smallest sub-model is as fast as ACC's largest trained speedup (LAT's ``p = 0.2`` reaches
only about 1.6x on a 6-layer encoder). LayerDrop is not used (ACC does not use it either).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from acc.profiles import DEFAULT_REFERENCE_LENGTH, EncoderShape, ProfileError, profile_for_speedup
from acc.profiles.profile import geometric_ratios

from .training import Configs


@dataclass(frozen=True)
class LengthDrop:
    """LengthDrop sampling for an encoder of ``num_layers``: drop bound ``p`` per layer, sandwich of 2 + num_random."""

    num_layers: int
    p: float
    num_random: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.p < 1.0:
            raise ProfileError(f"LengthDrop bound p={self.p} must lie in (0, 1); the paper uses 0.2")
        if self.num_layers < 2:
            raise ProfileError(f"LengthDrop needs at least 2 layers, got {self.num_layers}")
        if self.num_random < 0:
            raise ProfileError(f"num_random={self.num_random} must not be negative")

    @classmethod
    def for_speedup(
        cls,
        shape: EncoderShape,
        s_max: float,
        reference_length: int = DEFAULT_REFERENCE_LENGTH,
        min_keep: int = 1,
        num_random: int = 1,
    ) -> LengthDrop:
        """The bound whose smallest sub-model (every ``p_l = p``) reaches ``s_max`` at ``reference_length``.

        The smallest sub-model is then ACC's geometric ``s_max`` profile, so both methods train the same range.
        """
        tilt = profile_for_speedup(shape, s_max, reference_length, min_keep).tilt
        return cls(shape.num_layers, float(tilt), num_random)

    def sample(self, rng: random.Random) -> tuple[float, ...]:
        """One sub-model: ``ρ_1 = 1``, ``ρ_{l+1} = ρ_l·(1 − p_l)`` with ``p_l ~ U(0, p)``."""
        ratios = [1.0]
        for _ in range(self.num_layers - 1):
            ratios.append(ratios[-1] * (1.0 - rng.uniform(0.0, self.p)))
        return tuple(ratios)

    def smallest(self) -> tuple[float, ...]:
        """Every layer drops the bound: the geometric profile with tilt ``p``."""
        return geometric_ratios(self.p, self.num_layers)

    def configs(self, rng: random.Random) -> Configs:
        """The sandwich of one step: full (the teacher), smallest and ``num_random`` samples (distilled)."""
        return [(None, False), (self.smallest(), True)] + [(self.sample(rng), True) for _ in range(self.num_random)]
