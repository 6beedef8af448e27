"""Export an ACC GPT-2 as ONNX: one prefill graph per profile (pruned per-layer KV cache) and one decode-step graph.

Same exporter as the BERT graphs (TorchScript ``torch.onnx.export(dynamo=False)``, token selection recorded as
``ai.acc::TokenSelect`` through ``acc.exporter.token_select.traceable_select``), because the per-layer cache lengths
are data-dependent exactly like BERT's kept sets.

Prefill graph ``<profile>.onnx`` (left-padded prompts)::

    input_ids, attention_mask [batch, sequence] int64
      → logits [batch, vocab]                      next-token logits at the last prompt token
        present_key_<l>, present_value_<l> [batch, heads, kept_<l>, head_dim]   layer l's kept vectors only
        present_mask_<l> [batch, kept_<l>] int64   1 = real entry (rows keep different counts; filler slots are 0)
        kept_index_<l> [batch, kept_<l>] int64     original prompt position of each entry, −1 on filler (pruned l)

Decode graph ``decode.onnx`` (shared by every profile: decoding never eliminates)::

    input_ids, position_ids [batch, new] int64; past_key_<l>, past_value_<l> [batch, heads, past_<l>, head_dim];
    past_mask_<l> [batch, past_<l>] int64
      → logits [batch, vocab] (last new token), present_key_<l>, present_value_<l>, present_mask_<l> (past + new)

Layers are numbered from 0 in tensor names (``present_key_0`` is the first layer), as Hugging Face's past names do.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from acc.profiles import ExportError, Profile, pruned_layers
from acc.runtime.causal_names import (
    DECODE_NAME,
    KEEP_RATIOS_INPUT,
    PREFILL_INPUTS,
    kept_index_name,
    past_names,
    present_names,
)

from ..export import MAX_IR_VERSION, attach_token_select
from ..token_select import DOMAIN, DOMAIN_VERSION, OPSET, traceable_select

if TYPE_CHECKING:
    from acc.modeling.causal.model import AccGPT2LMHeadModel


@dataclass(frozen=True)
class CausalGraph:
    """An exported causal graph: a prefill graph (fixed profile or adjustable) or the decode graph."""

    name: str
    path: Path
    kind: str  # "prefill" | "decode"
    profile: Profile | None  # prefill at a fixed profile; None for the adjustable prefill and for decode
    select_layers: tuple[int, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    @property
    def adjustable(self) -> bool:
        return self.kind == "prefill" and self.profile is None


class _PrefillWrapper(nn.Module):
    def __init__(self, model: AccGPT2LMHeadModel, ratios: tuple[float, ...] | None, select_layers: list[int]) -> None:
        super().__init__()
        self.model = model
        self.ratios = ratios
        self.select_layers = select_layers

    def forward(self, input_ids, attention_mask, keep_ratios=None):
        ratios = keep_ratios if self.ratios is None else list(self.ratios)
        out = self.model.prefill(input_ids, attention_mask, ratios, select_layers=self.select_layers)
        flat: list[torch.Tensor] = [out.logits]
        for entry in out.cache:
            flat += [entry.key, entry.value, entry.mask]
        for layer in self.select_layers:
            positions, mask = out.kept_positions[layer], out.kept_masks[layer]
            flat.append(torch.where(mask > 0, positions, torch.full_like(positions, -1)))
        return tuple(flat)


class _DecodeWrapper(nn.Module):
    def __init__(self, model: AccGPT2LMHeadModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, position_ids, *past):
        from acc.modeling.causal.model import LayerCache

        cache = [LayerCache(past[3 * i], past[3 * i + 1], past[3 * i + 2]) for i in range(len(past) // 3)]
        logits, new_cache = self.model.extend(cache, input_ids, position_ids)
        flat: list[torch.Tensor] = [logits[:, -1]]
        for entry in new_cache:
            flat += [entry.key, entry.value, entry.mask]
        return tuple(flat)


def export_prefill(
    model: AccGPT2LMHeadModel, name: str, profile: Profile | None, path: str | Path, sample_length: int = 16
) -> CausalGraph:
    """Trace the prefill at ``profile`` (``None``: the adjustable graph, ratios as input) into a self-contained file."""
    layers = model.num_layers
    if profile is None:
        select_layers = list(range(1, layers))
    else:
        if profile.num_layers != layers:
            raise ExportError(
                f"profile {name} has {profile.num_layers} ratios for a {layers}-layer model; offline-tune it"
            )
        select_layers = pruned_layers(profile.keep_ratios)
    wrapper = _PrefillWrapper(model, None if profile is None else profile.keep_ratios, select_layers).eval()
    input_ids, attention_mask = sample_prompts(model.config.vocab_size, batch=2, seq_len=sample_length)
    args: tuple = (input_ids, attention_mask)
    input_names = list(PREFILL_INPUTS)
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in input_names}
    if profile is None:
        args = (*args, torch.ones(layers, dtype=torch.float32))
        input_names.append(KEEP_RATIOS_INPUT)
    outputs = ["logits"]
    axes["logits"] = {0: "batch"}
    for layer in range(layers):
        key, value, mask = present_names(layer)
        outputs += [key, value, mask]
        axes[key] = axes[value] = {0: "batch", 2: f"kept_{layer}"}
        axes[mask] = {0: "batch", 1: f"kept_{layer}"}
    for layer in select_layers:
        outputs.append(kept_index_name(layer))
        axes[kept_index_name(layer)] = {0: "batch", 1: f"kept_{layer}"}
    _trace(model, wrapper, args, Path(path), input_names, outputs, axes, bool(select_layers), name)
    return CausalGraph(name, Path(path), "prefill", profile, tuple(select_layers), tuple(input_names), tuple(outputs))


def export_decode(model: AccGPT2LMHeadModel, path: str | Path, past_length: int = 7) -> CausalGraph:
    """Trace one decoding step over per-layer caches of (traced) different lengths, so none is specialised."""
    config = model.config
    heads, head_dim, layers = config.n_head, config.n_embd // config.n_head, model.num_layers
    batch = 2
    input_names = ["input_ids", "position_ids"]
    axes: dict[str, dict[int, str]] = {"input_ids": {0: "batch", 1: "new"}, "position_ids": {0: "batch", 1: "new"}}
    args: list[torch.Tensor] = [torch.tensor([[5], [7]]), torch.tensor([[past_length], [past_length - 1]])]
    outputs = ["logits"]
    axes["logits"] = {0: "batch"}
    for layer in range(layers):
        length = past_length + layer % 3  # different per layer in the trace
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[1, -2:] = 0
        args += [torch.randn(batch, heads, length, head_dim), torch.randn(batch, heads, length, head_dim), mask]
        names = past_names(layer)
        input_names += list(names)
        axes[names[0]] = axes[names[1]] = {0: "batch", 2: f"past_{layer}"}
        axes[names[2]] = {0: "batch", 1: f"past_{layer}"}
        present = present_names(layer)
        outputs += list(present)
        axes[present[0]] = axes[present[1]] = {0: "batch", 2: f"total_{layer}"}
        axes[present[2]] = {0: "batch", 1: f"total_{layer}"}
    _trace(model, _DecodeWrapper(model).eval(), tuple(args), Path(path), input_names, outputs, axes, False, DECODE_NAME)
    return CausalGraph(DECODE_NAME, Path(path), "decode", None, (), tuple(input_names), tuple(outputs))


def sample_prompts(vocab_size: int, batch: int, seq_len: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompts with valid lengths ``seq_len, seq_len − 1, …`` (pads are id 0 under mask 0)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, vocab_size, (batch, seq_len), generator=generator)
    mask = torch.zeros(batch, seq_len, dtype=torch.long)
    for row in range(batch):
        mask[row, min(row, seq_len - 1) :] = 1
    return input_ids * mask, mask


def _trace(model, wrapper, args, path: Path, input_names, output_names, axes, uses_select: bool, name: str) -> None:
    import onnx

    previous, previous_attention = model.selector, model.attention
    model.selector, model.attention = traceable_select, "eager"
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python ints are expected here
            torch.onnx.export(
                wrapper, args, str(path), dynamo=False, opset_version=OPSET, input_names=list(input_names),
                output_names=list(output_names), dynamic_axes=axes,
                custom_opsets={DOMAIN: DOMAIN_VERSION} if uses_select else None, do_constant_folding=True,
            )  # fmt: skip
    except Exception as exc:
        raise ExportError(f"torch.onnx export of causal graph {name} failed: {exc}".splitlines()[0]) from exc
    finally:
        model.selector, model.attention = previous, previous_attention
    proto = onnx.load(str(path))
    attach_token_select(proto)
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    onnx.save(proto, str(path))
