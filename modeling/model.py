"""The ACC encoder classifier: a Hugging Face ``*ForSequenceClassification`` run layer by layer with elimination.

We wrap the Hugging Face modules instead of re-implementing the encoder, so any BERT, RoBERTa, DistilBERT or MPNet
checkpoint loads as it is. One layer loop serves them all; the small per-architecture part (embeddings, the
attention call that returns probabilities, the feed-forward half, the head, MPNet's relative position bias) is an
``EncoderFamily`` (``families.py``). Between layers the ACC score of the layer's attention decides which
word-vectors the next layer sees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from acc.profiles import EncoderShape, ModelError, pruned_layers

from .families import AttentionBias, EncoderFamily, family_of
from .score import acc_score
from .select import Selection, padded_length, select_tokens

# (hidden, mask, positions, score, n_valid, ratio, min_keep, padded_len) -> Selection. The exporter swaps in a version
# that traces to the ONNX function ai.acc::TokenSelect.
Selector = Callable[..., Selection]
# (family, layer, hidden, mask, bias) -> (attention output, thunk giving the layer's ACC score). The thunk runs only
# when a selection follows. The exporter's fused form swaps in a runner that traces to fused attention + AccScore.
AttentionRunner = Callable[
    [EncoderFamily, nn.Module, torch.Tensor, torch.Tensor, AttentionBias],
    tuple[torch.Tensor, Callable[[], torch.Tensor]],
]


def eager_attention(
    family: EncoderFamily, layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor, bias: AttentionBias
) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
    """Hugging Face's own eager attention; the score comes from the probabilities it returns."""
    attention_output, probs = family.attend(layer, hidden, bias)
    return attention_output, lambda: acc_score(probs, mask)


@dataclass
class AccOutput:
    """Logits plus, per layer, the word-vectors it saw (diagnostics, tests and validation)."""

    logits: torch.Tensor  # [B, num_labels]
    kept_positions: list[torch.Tensor]  # per layer: [B, K_l] original positions of the slots
    kept_masks: list[torch.Tensor]  # per layer: [B, K_l], 1 for real word-vectors


class AccEncoderForSequenceClassification(nn.Module):
    """Sequence classification with ACC elimination; ``keep_ratios=None`` (or all 1.0) is the dense model."""

    def __init__(
        self,
        hf_model: nn.Module,
        min_keep: int = 1,
        selector: Selector = select_tokens,
        attention_runner: AttentionRunner = eager_attention,
    ) -> None:
        super().__init__()
        self.family = family_of(hf_model)
        # Elimination needs the attention probabilities, which only the eager attention returns.
        hf_model.config._attn_implementation = "eager"
        self.hf = hf_model
        self.min_keep = min_keep
        self.selector = selector
        self.attention_runner = attention_runner

    @property
    def config(self):  # noqa: ANN201 - a transformers PretrainedConfig
        return self.hf.config

    @property
    def shape(self) -> EncoderShape:
        return self.family.shape()

    @property
    def num_layers(self) -> int:
        return len(self.family.layers)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        keep_ratios: Sequence[float] | torch.Tensor | None = None,
        select_layers: Sequence[int] | None = None,
    ) -> AccOutput:
        """Run the encoder; before layer l (l ≥ 1, 0-based) keep ``ceil(keep_ratios[l] · n_valid)`` word-vectors.

        ``select_layers`` overrides which layers get a selection (the adjustable graph selects before every layer
        because its ratios are only known at run time); by default only layers whose ratio drops.
        ``token_type_ids`` are ignored by families without segment ids (RoBERTa, DistilBERT, MPNet).
        """
        family = self.family
        mask = attention_mask.long()
        hidden = family.embed(input_ids, token_type_ids if family.uses_token_type_ids else None)
        batch, seq_len = input_ids.shape
        positions = torch.arange(seq_len, device=input_ids.device)[None, :].expand(batch, seq_len)
        n_valid = mask.sum(dim=1)
        padded_len = padded_length(input_ids)
        ratios = keep_ratios_tensor(keep_ratios, self.num_layers, hidden.device)
        if select_layers is None:
            select_layers = [] if ratios is None else pruned_layers([float(r) for r in ratios])
        selected = set(select_layers)

        kept_positions: list[torch.Tensor] = []
        kept_masks: list[torch.Tensor] = []
        score_of: Callable[[], torch.Tensor] | None = None
        bias: AttentionBias | None = None
        for index, layer in enumerate(family.layers):
            if index in selected and score_of is not None:
                hidden, mask, positions = self.selector(
                    hidden, mask, positions, score_of(), n_valid, ratios[index], self.min_keep, padded_len
                )
                bias = None  # the kept slots sit at other original positions now
            if bias is None:
                bias = family.attention_bias(mask, positions, hidden.dtype)
            kept_positions.append(positions)
            kept_masks.append(mask)
            attention_output, score_of = self.attention_runner(family, layer, hidden, mask, bias)
            hidden = family.feed_forward(layer, attention_output)

        return AccOutput(family.classify(hidden), kept_positions, kept_masks)


# The name every caller used before other encoder families existed; BERT checkpoints load through it unchanged.
AccBertForSequenceClassification = AccEncoderForSequenceClassification


def keep_ratios_tensor(
    keep_ratios: Sequence[float] | torch.Tensor | None, num_layers: int, device: torch.device, owner: str = "the model"
) -> torch.Tensor | None:
    """A profile's per-layer keep ratios as fp32 on ``device``; a length other than ``num_layers`` is one clear error.

    ``owner`` names what has the layers in that error (e.g. "the T5 encoder").
    """
    if keep_ratios is None:
        return None
    ratios = torch.as_tensor(keep_ratios, dtype=torch.float32, device=device)
    if ratios.shape != (num_layers,):
        raise ModelError(
            f"profile has {ratios.shape[0] if ratios.dim() else 0} keep ratios but {owner} has "
            f"{num_layers} layers; offline-tune a profile for this model"
        )
    return ratios
