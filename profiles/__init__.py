"""Offline-tuning: per-layer keep ratios, the FLOPs model, profile JSON. Pure Python + numpy, no torch."""

from __future__ import annotations

from .errors import (
    AccError,
    BundleError,
    DataError,
    EngineBuildError,
    ExportError,
    ModelError,
    PolicyError,
    ProfileError,
    ShapeError,
    ToleranceError,
)
from .flops import BERT_BASE, FLOPS_MODEL_NAME, EncoderShape, encoder_flops, layer_flops
from .keep import keep_count, keep_counts, pruned_layers
from .profile import (
    DEFAULT_REFERENCE_LENGTH,
    Profile,
    max_speedup,
    parse_speedups,
    profile_for_speedup,
    theoretical_speedup,
)

__all__ = [
    "BERT_BASE",
    "DEFAULT_REFERENCE_LENGTH",
    "FLOPS_MODEL_NAME",
    "AccError",
    "BundleError",
    "DataError",
    "EncoderShape",
    "EngineBuildError",
    "ExportError",
    "ModelError",
    "PolicyError",
    "Profile",
    "ProfileError",
    "ShapeError",
    "ToleranceError",
    "encoder_flops",
    "keep_count",
    "keep_counts",
    "layer_flops",
    "max_speedup",
    "parse_speedups",
    "profile_for_speedup",
    "pruned_layers",
    "theoretical_speedup",
]
