"""Encoder families: the small per-architecture part of the ACC encoder (BERT, RoBERTa, DistilBERT, MPNet).

The layer loop, scoring and selection are one piece of code (``acc.modeling.model``); what differs between Hugging
Face encoder classifiers is only where the modules live and how a layer is called. An ``EncoderFamily`` wraps one
Hugging Face ``*ForSequenceClassification`` model and answers exactly those questions: embeddings, the attention
call that returns probabilities, the feed-forward half of a layer, the classifier head, and the attention bias.

MPNet adds a relative position bias to the attention scores. Under elimination a kept slot no longer sits at its
slot index, so the bias is computed from the slots' *original* positions (as the T5 encoder does): exactly the rows
and columns of the dense bias matrix at the kept positions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from acc.profiles import EncoderShape, ModelError


class AttentionBias(NamedTuple):
    """What a layer adds to its attention scores: the additive key mask and, for MPNet, the position bias."""

    mask: torch.Tensor  # [B, 1, 1, K] additive (0 or dtype-min)
    position: torch.Tensor | None = None  # [B, H, K, K] relative position bias, or None


@dataclass(frozen=True)
class FusedParts:
    """What the fused export form needs of one layer: Q/K/V projections and the attention output block."""

    query: nn.Module
    key: nn.Module
    value: nn.Module
    num_heads: int
    head_size: int
    output: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (context [B, N, D], layer input) -> output


class EncoderFamily:
    """One Hugging Face encoder classifier seen through the questions the ACC loop asks (BERT is the default)."""

    model_type: ClassVar[str] = "bert"
    hf_class: ClassVar[str] = "BertForSequenceClassification"
    base_attribute: ClassVar[str] = "bert"
    # Whether graphs take ``token_type_ids`` (segment ids); families without segments export without that input.
    uses_token_type_ids: ClassVar[bool] = True

    def __init__(self, hf: nn.Module) -> None:
        if not hasattr(hf, self.base_attribute) or not hasattr(hf, "classifier"):
            raise ModelError(
                f"{type(hf).__name__} is not a {self.model_type} sequence classifier; load a {self.hf_class}"
            )
        self.hf = hf

    @property
    def base(self) -> nn.Module:
        return getattr(self.hf, self.base_attribute)

    @property
    def layers(self) -> nn.ModuleList:
        return self.base.encoder.layer

    def shape(self) -> EncoderShape:
        return EncoderShape.from_config(self.hf.config)

    @classmethod
    def max_length(cls, config: Any) -> int:
        """Longest input the position embeddings of a model with this Hugging Face ``config`` cover."""
        return int(getattr(config, "max_position_embeddings", 512))

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        return self.base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)

    def attention_bias(self, mask: torch.Tensor, positions: torch.Tensor, dtype: torch.dtype) -> AttentionBias:
        """The bias of every layer until the next selection (``positions``: the slots' original positions)."""
        return AttentionBias(additive_mask(mask, dtype))

    def attend(self, layer: nn.Module, hidden: torch.Tensor, bias: AttentionBias) -> tuple[torch.Tensor, torch.Tensor]:
        """Attention block output (residual and layer norm included) and the probabilities [B, H, N, N]."""
        return layer.attention(hidden, bias.mask)

    def feed_forward(self, layer: nn.Module, attention_output: torch.Tensor) -> torch.Tensor:
        return layer.feed_forward_chunk(attention_output)

    def classify(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits from the last layer's vectors; slot 0 is always the first token ([CLS] / <s>), never dropped."""
        pooler = getattr(self.base, "pooler", None)
        pooled = pooler(hidden) if pooler is not None else hidden[:, 0]
        return self.hf.classifier(self.hf.dropout(pooled))

    def fused_parts(self, layer: nn.Module) -> FusedParts:
        attention = layer.attention.self
        if getattr(attention, "position_embedding_type", "absolute") != "absolute":
            raise ModelError(
                f"the fused form supports absolute position embeddings, this model uses "
                f"{attention.position_embedding_type!r}; export with --attention eager"
            )
        return FusedParts(attention.query, attention.key, attention.value, int(attention.num_attention_heads),
                          int(attention.attention_head_size), layer.attention.output)  # fmt: skip


class RobertaFamily(EncoderFamily):
    """RoBERTa: BERT's layers; positions start after the padding id; a two-layer head on <s>; no segment ids."""

    model_type = "roberta"
    hf_class = "RobertaForSequenceClassification"
    base_attribute = "roberta"
    uses_token_type_ids = False

    @classmethod
    def max_length(cls, config: Any) -> int:
        # Position ids start at pad_token_id + 1 (fairseq), so the first rows of the table are never a real position.
        return int(config.max_position_embeddings) - int(config.pad_token_id) - 1

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        return self.base.embeddings(input_ids=input_ids)

    def classify(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.hf.classifier(hidden)  # RobertaClassificationHead reads hidden[:, 0]


class DistilBertFamily(EncoderFamily):
    """DistilBERT: post-norm blocks with their own names, no pooler, pre_classifier + ReLU head, no segment ids."""

    model_type = "distilbert"
    hf_class = "DistilBertForSequenceClassification"
    base_attribute = "distilbert"
    uses_token_type_ids = False

    @property
    def layers(self) -> nn.ModuleList:
        return self.base.transformer.layer

    def shape(self) -> EncoderShape:
        config = self.hf.config
        return EncoderShape(num_layers=int(config.n_layers), hidden_size=int(config.dim),
                            intermediate_size=int(config.hidden_dim), num_heads=int(config.n_heads))  # fmt: skip

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        return self.base.embeddings(input_ids)

    def attend(self, layer: nn.Module, hidden: torch.Tensor, bias: AttentionBias) -> tuple[torch.Tensor, torch.Tensor]:
        output, probs = layer.attention(hidden, attention_mask=bias.mask)
        return layer.sa_layer_norm(output + hidden), probs

    def feed_forward(self, layer: nn.Module, attention_output: torch.Tensor) -> torch.Tensor:
        return layer.output_layer_norm(layer.ffn(attention_output) + attention_output)

    def classify(self, hidden: torch.Tensor) -> torch.Tensor:
        pooled = torch.relu(self.hf.pre_classifier(hidden[:, 0]))
        return self.hf.classifier(self.hf.dropout(pooled))

    def fused_parts(self, layer: nn.Module) -> FusedParts:
        attention = layer.attention

        def output(context: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
            return layer.sa_layer_norm(attention.out_lin(context) + hidden)

        return FusedParts(attention.q_lin, attention.k_lin, attention.v_lin, int(attention.n_heads),
                          int(attention.attention_head_size), output)  # fmt: skip


class MPNetFamily(EncoderFamily):
    """MPNet: BERT-like layers plus a relative position bias shared by all layers, from original positions."""

    model_type = "mpnet"
    hf_class = "MPNetForSequenceClassification"
    base_attribute = "mpnet"
    uses_token_type_ids = False

    @classmethod
    def max_length(cls, config: Any) -> int:
        # Like RoBERTa, but MPNetEmbeddings fixes the padding index at 1 whatever the config says.
        return int(config.max_position_embeddings) - 2

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        return self.base.embeddings(input_ids=input_ids)

    def attention_bias(self, mask: torch.Tensor, positions: torch.Tensor, dtype: torch.dtype) -> AttentionBias:
        encoder = self.base.encoder
        relative = positions[:, None, :] - positions[:, :, None]  # key position − query position
        # Hugging Face's own bucketing with its defaults (MPNetEncoder.compute_position_bias), so dense matches it.
        buckets = encoder.relative_position_bucket(relative)
        position = encoder.relative_attention_bias(buckets).permute(0, 3, 1, 2).to(dtype)
        return AttentionBias(additive_mask(mask, dtype), position)

    def attend(self, layer: nn.Module, hidden: torch.Tensor, bias: AttentionBias) -> tuple[torch.Tensor, torch.Tensor]:
        output, probs = layer.attention(hidden, bias.mask, position_bias=bias.position, output_attentions=True)
        return output, probs

    def feed_forward(self, layer: nn.Module, attention_output: torch.Tensor) -> torch.Tensor:
        return layer.output(layer.intermediate(attention_output), attention_output)

    def classify(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.hf.classifier(hidden)  # MPNetClassificationHead reads hidden[:, 0]

    def fused_parts(self, layer: nn.Module) -> FusedParts:
        raise ModelError(
            "the fused form has no relative position bias, which MPNet needs; export with --attention eager"
        )


FAMILIES: dict[str, type[EncoderFamily]] = {
    family.model_type: family for family in (EncoderFamily, RobertaFamily, DistilBertFamily, MPNetFamily)
}


def family_of(hf: nn.Module) -> EncoderFamily:
    """The family adapter of a Hugging Face sequence classifier, from its config's ``model_type``."""
    model_type = getattr(getattr(hf, "config", None), "model_type", None)
    if model_type not in FAMILIES:
        raise ModelError(
            f"{type(hf).__name__} (model_type {model_type!r}) is not an encoder acc-deploy can prune; load one of "
            + ", ".join(family.hf_class for family in FAMILIES.values())
        )
    return FAMILIES[model_type](hf)


def hf_class_for(model_type: str) -> type[nn.Module]:
    """The transformers ``*ForSequenceClassification`` class of ``model_type`` (imported on first use)."""
    import transformers

    if model_type not in FAMILIES:
        raise ModelError(
            f"model_type {model_type!r} is not an encoder classifier acc-deploy runs; use one of {sorted(FAMILIES)}"
        )
    return getattr(transformers, FAMILIES[model_type].hf_class)


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, N] 0/1 mask → [B, 1, 1, N] additive mask (0 or dtype-min), the form eager attention adds to scores."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
