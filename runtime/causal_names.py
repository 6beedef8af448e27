"""Tensor names of the causal graphs, in one torch-free module the runtime can import cheaply.

Layers are numbered from 0 (``present_key_0`` is the first layer), as Hugging Face's past names are.
"""

from __future__ import annotations

DECODE_NAME = "decode"
ADJUSTABLE_NAME = "adjustable"
KEEP_RATIOS_INPUT = "keep_ratios"
PREFILL_INPUTS = ("input_ids", "attention_mask")
DECODE_INPUTS = ("input_ids", "position_ids")
LOGITS = "logits"


def present_names(layer: int) -> tuple[str, str, str]:
    """Key, value and mask outputs of one layer's cache (prefill and decode graphs)."""
    return f"present_key_{layer}", f"present_value_{layer}", f"present_mask_{layer}"


def past_names(layer: int) -> tuple[str, str, str]:
    """Key, value and mask inputs of one layer's cache (decode graph)."""
    return f"past_key_{layer}", f"past_value_{layer}", f"past_mask_{layer}"


def kept_index_name(layer: int) -> str:
    """Original prompt positions of layer ``layer``'s cache entries, −1 on filler (pruned layers only)."""
    return f"kept_index_{layer}"
