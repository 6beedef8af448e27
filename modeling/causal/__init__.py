"""ACC for causal language models (GPT-2): elimination in the prefill, per-layer pruned KV caches, decoding."""

from __future__ import annotations

from .model import AccGPT2LMHeadModel, LayerCache, PrefillOutput
from .score import causal_acc_score

__all__ = ["AccGPT2LMHeadModel", "LayerCache", "PrefillOutput", "causal_acc_score"]
