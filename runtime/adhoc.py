"""Profiles for speedups a bundle does not ship: offline-tuned (docs/METHOD.md#5-offline-tuning) and run on its adjustable graph.

One implementation for every runtime (classifier, causal LM, seq2seq), so a speedup tunes to the same keep ratios
whichever runtime serves it: the reference length and ``min_keep`` of the shipped profiles, cached per speedup.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from acc.profiles import (
    DEFAULT_REFERENCE_LENGTH,
    EncoderShape,
    PolicyError,
    Profile,
    ProfileError,
    profile_for_speedup,
)

from .bundle_format import Manifest
from .policy import Choice


class AdhocProfiles:
    """Tuned profiles of one bundle, created on first request and shared by every thread.

    ``shape``: the FLOPs view to tune with (default the manifest's model shape; T5 passes its encoder's).
    ``min_keep``: used only when the bundle ships no profile to take it from.
    """

    def __init__(self, manifest: Manifest, shape: EncoderShape | None = None, min_keep: int = 1) -> None:
        self.manifest = manifest
        shipped = [entry.profile for entry in manifest.profiles]
        self.shape = shape or manifest.model.shape
        self.reference_length = shipped[0].reference_length if shipped else DEFAULT_REFERENCE_LENGTH
        self.min_keep = shipped[0].min_keep if shipped else min_keep
        self._profiles: dict[float, Profile] = {}
        self._lock = threading.Lock()

    def get(self, speedup: float) -> Profile:
        """The profile tuned to ``speedup``; ``PolicyError`` (one line) when the model cannot reach it."""
        with self._lock:
            cached = self._profiles.get(speedup)
            if cached is None:
                try:
                    cached = profile_for_speedup(self.shape, speedup, self.reference_length, self.min_keep)
                except ProfileError as exc:
                    raise PolicyError(f"adjustable graph cannot run speedup {speedup:g}: {exc}") from exc
                self._profiles[speedup] = cached
            return cached

    def keep_ratios(self, speedup: float) -> np.ndarray:
        """The adjustable graph's ``keep_ratios`` feed for ``speedup`` (float32 ``[num_layers]``)."""
        return np.asarray(self.get(speedup).keep_ratios, dtype=np.float32)

    def graph_for(self, choice: Choice, feeds: dict[str, np.ndarray]) -> Path:
        """Graph file of a policy choice; for an ad-hoc speedup also adds the adjustable graph's keep-ratio feed."""
        if not choice.adjustable:
            return self.manifest.path(self.manifest.profile(choice.profile).graph)
        adjustable = self.manifest.adjustable
        if adjustable is None or choice.speedup is None:
            raise PolicyError(
                f"choice {choice.profile!r} needs the adjustable graph, which this bundle lacks; pass a shipped speedup"
            )
        feeds[adjustable.input] = self.keep_ratios(choice.speedup)
        return self.manifest.path(adjustable.graph)
