"""Keep counts: how many word-vectors each layer sees, given a profile's ratios and a sample's valid length.

The arithmetic is float32 on purpose: the ONNX graph, the PyTorch model and this reference must agree to the
token, and float32 ``ratio * n`` followed by ``ceil`` is exactly reproducible by every backend (one IEEE multiply).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def keep_count(ratio: float, n_valid: int, n_prev: int, min_keep: int = 1) -> int:
    """Tokens layer l keeps. Computed from n_valid (not padded length) so one profile serves every seq_len."""
    raw = math.ceil(float(np.float32(ratio) * np.float32(n_valid)))
    return min(max(raw, min_keep), n_prev)


def keep_counts(keep_ratios: Sequence[float], n_valid: int, min_keep: int = 1) -> list[int]:
    """Word-vectors entering each layer for one sample of ``n_valid`` real tokens (layer 1 sees them all)."""
    counts: list[int] = []
    prev = n_valid
    for layer, ratio in enumerate(keep_ratios):
        k = n_valid if layer == 0 else keep_count(ratio, n_valid, prev, min_keep)
        counts.append(k)
        prev = k
    return counts


def pruned_layers(keep_ratios: Sequence[float]) -> list[int]:
    """Indices of layers preceded by a token selection: their ratio is below the previous layer's.

    A layer whose ratio equals the previous one would keep every surviving vector, so no selection is emitted.
    """
    return [i for i in range(1, len(keep_ratios)) if keep_ratios[i] < keep_ratios[i - 1]]
