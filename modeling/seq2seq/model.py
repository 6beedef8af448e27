"""ACC T5: a Hugging Face ``T5ForConditionalGeneration`` run block by block with elimination in the encoder.

docs/METHOD.md#8-other-families: word-vectors are dropped between encoder layers by their ACC score (the
bidirectional column mean of docs/METHOD.md#1-acc-score); the decoder cross-attends to the *last* encoder layer's
kept vectors with their mask. Nothing is pinned: T5 has no [CLS] read by a head (the decoder reads every kept
vector), so ``min_keep`` alone keeps at least one.

The decoder is split into a step function with an explicit self-attention cache (one key/value pair per layer), the
same shape the exported decoder graph takes, so PyTorch and ONNX run the same computation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from acc.modeling.model import keep_ratios_tensor
from acc.modeling.score import acc_score
from acc.modeling.select import Selection, padded_length, select_tokens
from acc.profiles import EncoderShape, ModelError, pruned_layers

from .attention import additive_mask, attend, causal_mask, project_kv, relative_bias

# (hidden, mask, positions, score, n_valid, ratio, min_keep) -> Selection; the exporter swaps in ai.acc::TokenSelect.
Selector = Callable[..., Selection]
# Per decoder layer: (keys, values) [B, H, T, dk] of every decoder position so far.
Past = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class EncoderOutput:
    """The last encoder layer's kept vectors (after the final layer norm) and, per layer, what it saw."""

    hidden: torch.Tensor  # [B, K, D]
    mask: torch.Tensor  # [B, K] int64, 1 for kept vectors
    kept_positions: list[torch.Tensor]  # per layer: [B, K_l] original positions of the slots
    kept_masks: list[torch.Tensor]  # per layer: [B, K_l]


@dataclass
class DecoderOutput:
    """Logits of the new decoder positions and the self-attention cache including them."""

    logits: torch.Tensor  # [B, S, V]
    past: Past


@dataclass
class Seq2SeqOutput:
    """Teacher-forced logits and the encoder's record (training and evaluation)."""

    logits: torch.Tensor  # [B, S, V]
    encoder: EncoderOutput


class AccT5ForConditionalGeneration(nn.Module):
    """Encoder–decoder with ACC elimination in the encoder; ``keep_ratios=None`` (or all 1.0) is the dense model."""

    def __init__(self, hf_model: nn.Module, min_keep: int = 1, selector: Selector = select_tokens) -> None:
        super().__init__()
        if not all(hasattr(hf_model, name) for name in ("encoder", "decoder", "lm_head", "shared")):
            raise ModelError(
                f"{type(hf_model).__name__} is not an encoder-decoder LM; load a T5ForConditionalGeneration"
            )
        self.hf = hf_model
        self.min_keep = min_keep
        self.selector = selector
        config = hf_model.config
        self.num_heads = int(config.num_heads)
        self.num_buckets = int(config.relative_attention_num_buckets)
        self.max_distance = int(config.relative_attention_max_distance)
        self.dropout = float(config.dropout_rate)
        # T5 v1.0 (tied embeddings) rescales the decoder output before the LM head; v1.1 / Flan-T5 do not. The
        # attribute is ``scale_decoder_outputs`` in transformers 5.x, ``tie_word_embeddings`` before.
        self.scale_output = bool(getattr(config, "scale_decoder_outputs", getattr(config, "tie_word_embeddings", True)))

    @property
    def config(self):  # noqa: ANN201 - a transformers T5Config
        return self.hf.config

    @property
    def num_layers(self) -> int:
        """Encoder layers: the ones profiles apply to."""
        return len(self.hf.encoder.block)

    @property
    def num_decoder_layers(self) -> int:
        return len(self.hf.decoder.block)

    @property
    def shape(self) -> EncoderShape:
        return t5_encoder_shape(self.hf.config)

    @property
    def start_token_id(self) -> int:
        start = self.config.decoder_start_token_id
        return int(self.config.pad_token_id if start is None else start)

    # ------------------------------------------------------------------------------------------------ encoder

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        keep_ratios: Sequence[float] | torch.Tensor | None = None,
        select_layers: Sequence[int] | None = None,
    ) -> EncoderOutput:
        """Run the encoder; before layer l (l ≥ 1, 0-based) keep ``ceil(keep_ratios[l] · n_valid)`` word-vectors.

        ``select_layers`` overrides which layers get a selection; by default those whose ratio drops.
        """
        encoder = self.hf.encoder
        mask = attention_mask.long()
        hidden = encoder.dropout(encoder.embed_tokens(input_ids))
        batch, seq_len = input_ids.shape
        positions = torch.arange(seq_len, device=input_ids.device)[None, :].expand(batch, seq_len)
        n_valid = mask.sum(dim=1)
        ratios = keep_ratios_tensor(keep_ratios, self.num_layers, hidden.device, owner="the T5 encoder")
        if select_layers is None:
            select_layers = [] if ratios is None else pruned_layers([float(r) for r in ratios])
        selected = set(select_layers)
        table = encoder.block[0].layer[0].SelfAttention.relative_attention_bias

        kept_positions: list[torch.Tensor] = []
        kept_masks: list[torch.Tensor] = []
        probs: torch.Tensor | None = None
        bias: torch.Tensor | None = None
        for index, block in enumerate(encoder.block):
            if index in selected and probs is not None:
                score = acc_score(probs, mask, pin_first=False)
                hidden, mask, positions = self.selector(
                    hidden, mask, positions, score, n_valid, ratios[index], self.min_keep, padded_length(input_ids)
                )
                bias = None  # the kept slots sit at other original positions now
            if bias is None:
                position_bias = relative_bias(table, positions, positions, True, self.num_buckets, self.max_distance)
                bias = position_bias + additive_mask(mask, hidden.dtype)
            kept_positions.append(positions)
            kept_masks.append(mask)
            hidden, probs = self._encoder_block(block, hidden, bias)
        hidden = encoder.dropout(encoder.final_layer_norm(hidden))
        return EncoderOutput(hidden, mask, kept_positions, kept_masks)

    def _encoder_block(
        self, block: nn.Module, hidden: torch.Tensor, bias: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self_attention = block.layer[0]
        normed = self_attention.layer_norm(hidden)
        keys, values = project_kv(self_attention.SelfAttention, normed, self.num_heads)
        out, probs = attend(self_attention.SelfAttention, normed, keys, values, bias, self.dropout)
        hidden = hidden + self_attention.dropout(out)
        return block.layer[1](hidden), probs

    # ------------------------------------------------------------------------------------------------ decoder

    def decode(
        self,
        decoder_input_ids: torch.Tensor,
        encoder_hidden: torch.Tensor,
        encoder_mask: torch.Tensor,
        past: Past | None = None,
    ) -> DecoderOutput:
        """Logits of ``decoder_input_ids [B, S]`` placed after the ``past`` positions; returns the extended cache.

        Cross-attention reads the kept encoder vectors; filler slots are masked by ``encoder_mask``.
        """
        decoder = self.hf.decoder
        _batch, new = decoder_input_ids.shape
        past_len = 0 if past is None else past[0][0].shape[2]
        hidden = decoder.dropout(decoder.embed_tokens(decoder_input_ids))
        device = decoder_input_ids.device
        key_positions = torch.arange(past_len + new, device=device)
        query_positions = key_positions[past_len:]
        table = decoder.block[0].layer[0].SelfAttention.relative_attention_bias
        self_bias = relative_bias(
            table, query_positions[None, :], key_positions[None, :], False, self.num_buckets, self.max_distance
        ) + causal_mask(query_positions, key_positions, hidden.dtype)
        cross_bias = additive_mask(encoder_mask.long(), hidden.dtype)

        present: Past = []
        for index, block in enumerate(decoder.block):
            self_attention, cross_attention, feed_forward = block.layer[0], block.layer[1], block.layer[2]
            normed = self_attention.layer_norm(hidden)
            keys, values = project_kv(self_attention.SelfAttention, normed, self.num_heads)
            if past is not None:
                keys = torch.cat([past[index][0], keys], dim=2)
                values = torch.cat([past[index][1], values], dim=2)
            present.append((keys, values))
            out, _ = attend(self_attention.SelfAttention, normed, keys, values, self_bias, self.dropout)
            hidden = hidden + self_attention.dropout(out)
            normed = cross_attention.layer_norm(hidden)
            cross_keys, cross_values = project_kv(cross_attention.EncDecAttention, encoder_hidden, self.num_heads)
            out, _ = attend(cross_attention.EncDecAttention, normed, cross_keys, cross_values, cross_bias, self.dropout)
            hidden = hidden + cross_attention.dropout(out)
            hidden = feed_forward(hidden)
        hidden = decoder.dropout(decoder.final_layer_norm(hidden))
        if self.scale_output:
            hidden = hidden * (self.config.d_model**-0.5)
        return DecoderOutput(self.hf.lm_head(hidden), present)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        keep_ratios: Sequence[float] | torch.Tensor | None = None,
        select_layers: Sequence[int] | None = None,
    ) -> Seq2SeqOutput:
        """Teacher forcing: encode with elimination, then decode every target position at once (causal mask)."""
        encoded = self.encode(input_ids, attention_mask, keep_ratios, select_layers)
        decoded = self.decode(decoder_input_ids, encoded.hidden, encoded.mask)
        return Seq2SeqOutput(decoded.logits, encoded)

    def shift_right(self, labels: torch.Tensor) -> torch.Tensor:
        """Decoder inputs for ``labels [B, S]`` (−100 = ignored): start token, then labels[:-1], pads for −100."""
        shifted = torch.full_like(labels, self.start_token_id)
        shifted[:, 1:] = labels[:, :-1]
        return shifted.masked_fill(shifted == -100, int(self.config.pad_token_id))


def t5_encoder_shape(config: object) -> EncoderShape:
    """The FLOPs-model view of a T5 *encoder* (profiles target encoder FLOPs; the decoder is not counted).

    T5's attention width is ``num_heads · d_kv`` (not always ``d_model``) and gated FFNs (T5 v1.1, Flan-T5) have
    three matrices instead of two.
    """
    num_heads = int(config.num_heads)
    return EncoderShape(
        num_layers=int(config.num_layers),
        hidden_size=int(config.d_model),
        intermediate_size=int(config.d_ff),
        num_heads=num_heads,
        attention_size=num_heads * int(config.d_kv),
        gated_ffn=bool(getattr(config, "is_gated_act", False)),
    )
