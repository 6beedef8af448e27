"""Input and output names of the T5 graphs: the contract between the exporter and ``acc.runtime.seq2seq``.

A module of its own (no torch, no onnx) so the runtime can import the names without importing the exporter.
"""

from __future__ import annotations

ENCODER_INPUTS = ("input_ids", "attention_mask")
ENCODER_HIDDEN = "encoder_hidden"
ENCODER_MASK = "encoder_mask"
DECODER_NAME = "decoder"
DECODER_INPUT_IDS = "decoder_input_ids"
LOGITS = "logits"


def past_names(num_layers: int, prefix: str = "past") -> list[str]:
    """``past_key_0, past_value_0, ...`` (or ``present_…``): one key and one value per decoder layer."""
    return [f"{prefix}_{kind}_{layer}" for layer in range(num_layers) for kind in ("key", "value")]
