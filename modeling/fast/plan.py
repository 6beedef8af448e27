"""Static execution plans: everything about one forward pass that can be fixed before it runs.

Keep counts depend on each sample's valid length, but their maximum over any batch padded to ``seq_len`` is the
keep count at ``seq_len`` itself (``ceil`` grows with n_valid). So the number of word-vector slots entering each
layer is a function of (profile, seq_len) alone: every tensor shape of the pass is static and the pass can be
captured once per (plan, batch) in a CUDA graph. Samples shorter than ``seq_len`` keep their own counts; the extra
slots are masked fillers that no later layer attends to and no selection picks before a real word-vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from acc.profiles import ModelError, keep_counts, pruned_layers

METHODS = ("dense", "naive", "fused")


@dataclass(frozen=True)
class StaticPlan:
    """One (method, keep ratios, sequence length, padding) combination; hashable, so it keys CUDA graphs.

    method: ``dense`` (no selection, fused SDPA), ``naive`` (attention probabilities materialised on the layers
    that feed a selection, ``acc_score`` + top-k/sort/gather in PyTorch) or ``fused`` (SDPA + Triton score and
    selection kernels). ``padded=False`` promises that every sample fills ``seq_len`` (no attention masks needed).
    """

    method: str
    seq_len: int
    keep_ratios: tuple[float, ...]
    slots: tuple[int, ...]  # word-vector slots entering each layer
    select_layers: tuple[int, ...]  # layers preceded by a selection
    min_keep: int = 1
    padded: bool = True

    @property
    def num_layers(self) -> int:
        return len(self.keep_ratios)

    @property
    def name(self) -> str:
        return f"{self.method}-n{self.seq_len}{'' if self.padded else '-full'}"


def make_plan(
    method: str,
    keep_ratios: Sequence[float] | None,
    num_layers: int,
    seq_len: int,
    min_keep: int = 1,
    padded: bool = True,
) -> StaticPlan:
    """The plan of ``method`` for inputs padded to ``seq_len``; ``keep_ratios=None`` (or dense) selects nothing."""
    if method not in METHODS:
        raise ModelError(f"unknown fast-path method {method!r}; pass one of {', '.join(METHODS)}")
    if seq_len < 1:
        raise ModelError(f"sequence length {seq_len} is not positive; pad inputs to a length >= 1")
    ratios = tuple(float(r) for r in keep_ratios) if keep_ratios is not None else (1.0,) * num_layers
    if len(ratios) != num_layers:
        raise ModelError(
            f"profile has {len(ratios)} keep ratios but the model has {num_layers} layers; "
            "offline-tune a profile for this model"
        )
    if method == "dense":
        ratios = (1.0,) * num_layers
    slots = tuple(keep_counts(ratios, seq_len, min_keep))
    layers = pruned_layers(ratios)
    if not padded:
        # Every sample keeps exactly ``slots``: a selection that keeps all slots changes nothing and is skipped.
        layers = [layer for layer in layers if slots[layer] < slots[layer - 1]]
    return StaticPlan(method, seq_len, ratios, slots, tuple(layers), min_keep, padded)


def seq_bucket(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket that holds ``length`` tokens (buckets ascending)."""
    for bucket in sorted(buckets):
        if length <= bucket:
            return bucket
    raise ModelError(
        f"input of {length} tokens exceeds the largest sequence bucket {max(buckets)}; truncate or add a bucket"
    )
