"""Export an ACC T5 to ONNX: one encoder graph per profile (plus the adjustable one) and one decoder-step graph.

The encoder graphs are the BERT graphs' counterpart: ``ai.acc::TokenSelect`` between layers, keep counts from each
sample's valid length. They return the last layer's kept vectors and their mask, which is everything the decoder
needs, so one decoder graph serves every profile::

    encoder  (input_ids, attention_mask) → encoder_hidden [B,K,D], encoder_mask [B,K], kept_index_l [B,K_l]
    decoder  (decoder_input_ids [B,S], encoder_hidden, encoder_mask, past_key_i/past_value_i [B,H,P,dk])
             → logits [B,S,V], present_key_i/present_value_i [B,H,P+S,dk]

The first decoder step feeds a past of length 0. Cross-attention keys and values are recomputed from
``encoder_hidden`` each step (K·D² per layer, small next to the encoder for short answers), so the graph has no
second cache to manage. Same TorchScript exporter as ``acc.exporter.export`` (TokenSelect's data-dependent length).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from acc.runtime.seq2seq_names import (
    DECODER_INPUT_IDS,
    DECODER_NAME,
    ENCODER_HIDDEN,
    ENCODER_INPUTS,
    ENCODER_MASK,
    LOGITS,
    past_names,
)

from ..export import (
    KEEP_RATIOS_INPUT,
    ExportedGraph,
    GraphSpec,
    export_onnx_graph,
    kept_index_name,
    kept_index_outputs,
    token_select_layers,
    used_domains,
)
from ..token_select import traceable_select

if TYPE_CHECKING:
    from acc.modeling.seq2seq.model import AccT5ForConditionalGeneration


@dataclass(frozen=True)
class DecoderGraph:
    """The exported decoder step and the cache geometry a runtime needs to feed it."""

    path: Path
    num_layers: int
    num_heads: int
    head_dim: int
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]


class _EncoderWrapper(nn.Module):
    def __init__(self, model: AccT5ForConditionalGeneration, spec: GraphSpec, select_layers: list[int]) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.select_layers = select_layers

    def forward(self, input_ids, attention_mask, keep_ratios=None):  # noqa: ANN001, ANN201
        ratios = keep_ratios if self.spec.adjustable else list(self.spec.profile.keep_ratios)
        out = self.model.encode(input_ids, attention_mask, keep_ratios=ratios, select_layers=self.select_layers)
        return (out.hidden, out.mask, *kept_index_outputs(out.kept_positions, out.kept_masks, self.select_layers))


class _DecoderWrapper(nn.Module):
    def __init__(self, model: AccT5ForConditionalGeneration) -> None:
        super().__init__()
        self.model = model

    def forward(self, decoder_input_ids, encoder_hidden, encoder_mask, *past_flat):  # noqa: ANN001, ANN201
        past = [(past_flat[i], past_flat[i + 1]) for i in range(0, len(past_flat), 2)]
        out = self.model.decode(decoder_input_ids, encoder_hidden, encoder_mask, past)
        return (out.logits, *[tensor for pair in out.past for tensor in pair])


def encoder_sample(
    batch: int = 2, seq_len: int = 16, vocab_size: int = 1000, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids with valid lengths ``seq_len, seq_len - 1, ...`` so no length is specialised on the trace."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab_size, (batch, seq_len), generator=generator)
    mask = (torch.arange(seq_len)[None, :] < (seq_len - torch.arange(batch))[:, None]).long()
    return ids * mask, mask


def export_encoder(model: AccT5ForConditionalGeneration, spec: GraphSpec, path: str | Path) -> ExportedGraph:
    """Trace the encoder under ``spec`` (a fixed profile, or adjustable) into a self-contained ONNX file."""
    path = Path(path)
    num_layers = model.num_layers
    select_layers = token_select_layers(spec, num_layers, owner="T5 encoder")
    wrapper = _EncoderWrapper(model, spec, select_layers).eval()
    input_names = list(ENCODER_INPUTS)
    args: tuple = encoder_sample(vocab_size=int(model.config.vocab_size))
    dynamic_axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in input_names}
    if spec.adjustable:
        input_names.append(KEEP_RATIOS_INPUT)
        args = (*args, torch.ones(num_layers, dtype=torch.float32))
    output_names = [ENCODER_HIDDEN, ENCODER_MASK] + [kept_index_name(layer) for layer in select_layers]
    dynamic_axes[ENCODER_HIDDEN] = {0: "batch", 1: "kept"}
    dynamic_axes[ENCODER_MASK] = {0: "batch", 1: "kept"}
    for layer in select_layers:
        dynamic_axes[kept_index_name(layer)] = {0: "batch", 1: f"kept_{layer + 1}"}
    previous = model.selector
    model.selector = traceable_select
    try:
        export_onnx_graph(
            wrapper,
            args,
            path,
            input_names,
            output_names,
            dynamic_axes,
            spec.name,
            custom_opsets=used_domains(bool(select_layers)),
        )
    finally:
        model.selector = previous
    return ExportedGraph(spec, path, tuple(select_layers), tuple(output_names))


def export_decoder(model: AccT5ForConditionalGeneration, path: str | Path) -> DecoderGraph:
    """Trace one decoder step with a self-attention cache (sample: 1 new token after 3 cached, 5 kept vectors)."""
    path = Path(path)
    layers = model.num_decoder_layers
    heads = model.num_heads
    head_dim = int(model.config.d_kv)
    batch, kept = 2, 5
    hidden = torch.randn(batch, kept, int(model.config.d_model))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    past = [torch.randn(batch, heads, 3, head_dim) for _ in range(2 * layers)]
    ids = torch.full((batch, 1), model.start_token_id, dtype=torch.long)
    input_names = [DECODER_INPUT_IDS, ENCODER_HIDDEN, ENCODER_MASK, *past_names(layers)]
    output_names = [LOGITS, *past_names(layers, "present")]
    dynamic_axes = {
        DECODER_INPUT_IDS: {0: "batch", 1: "new"},
        ENCODER_HIDDEN: {0: "batch", 1: "kept"},
        ENCODER_MASK: {0: "batch", 1: "kept"},
        LOGITS: {0: "batch", 1: "new"},
        **{name: {0: "batch", 2: "past"} for name in past_names(layers)},
        **{name: {0: "batch", 2: "total"} for name in past_names(layers, "present")},
    }
    wrapper = _DecoderWrapper(model).eval()
    export_onnx_graph(wrapper, (ids, hidden, mask, *past), path, input_names, output_names, dynamic_axes, DECODER_NAME)
    return DecoderGraph(path, layers, heads, head_dim, tuple(input_names), tuple(output_names))
