"""Drop-and-Restore (Length-Adaptive Transformer, docs/METHOD.md#6-baselines): elimination for token-level outputs.

Sequence classification only reads [CLS], so dropped word-vectors can be deleted. A tagger or a span head needs an
output at *every* position: here a word-vector dropped before layer l is not deleted but carried unchanged (its
state after layer l−1) to the end, and put back at its original position, so the token head sees all N positions
in input order. The kept word-vectors go through the remaining layers exactly as in ACC (same selection, same keep
counts), so the encoder cost is the pruned one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from acc.modeling.families import additive_mask
from acc.modeling.model import Selector
from acc.modeling.score import acc_score
from acc.modeling.select import select_tokens
from acc.profiles import ModelError, pruned_layers


@dataclass
class TokenOutput:
    """Per-position outputs in input order, and where each position left the encoder."""

    logits: torch.Tensor  # [B, N, num_labels]
    hidden: torch.Tensor  # [B, N, D] restored final states
    dropped_before: torch.Tensor  # [B, N] int64: layer index (0-based) a position was dropped before; L = never


class DropAndRestoreBert(nn.Module):
    """A token-classification head over an ACC-style encoder whose dropped word-vectors are restored at the end.

    ``bert`` is a Hugging Face ``BertModel`` (e.g. ``AccBertForSequenceClassification.hf.bert``, shared, not copied).
    Position 0 ([CLS]) is never dropped (the ACC score pins it), as for sequence classification.
    """

    def __init__(self, bert: nn.Module, num_labels: int, min_keep: int = 1, selector: Selector = select_tokens) -> None:
        super().__init__()
        if not hasattr(bert, "encoder") or not hasattr(bert, "embeddings"):
            raise ModelError(f"{type(bert).__name__} is not a BERT encoder; pass a transformers BertModel")
        bert.config._attn_implementation = "eager"  # elimination needs the attention probabilities
        self.bert = bert
        self.dropout = nn.Dropout(bert.config.hidden_dropout_prob)
        self.classifier = nn.Linear(bert.config.hidden_size, num_labels)
        self.min_keep = min_keep
        self.selector = selector

    @property
    def num_layers(self) -> int:
        return len(self.bert.encoder.layer)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        keep_ratios: Sequence[float] | torch.Tensor | None = None,
    ) -> TokenOutput:
        mask = attention_mask.long()
        hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        batch, seq_len, width = hidden.shape
        positions = torch.arange(seq_len, device=hidden.device)[None, :].expand(batch, seq_len)
        n_valid = mask.sum(dim=1)
        ratios = None
        if keep_ratios is not None:
            ratios = torch.as_tensor(keep_ratios, dtype=torch.float32, device=hidden.device)
            if ratios.shape != (self.num_layers,):
                raise ModelError(
                    f"profile has {ratios.numel()} keep ratios but the encoder has {self.num_layers} layers"
                )
        selected = set(pruned_layers(ratios.tolist())) if ratios is not None else set()
        # One spare column N takes the writes of masked slots, which carry no word-vector.
        restored = torch.cat([hidden, hidden.new_zeros(batch, 1, width)], dim=1)
        dropped_before = torch.full((batch, seq_len), self.num_layers, dtype=torch.long, device=hidden.device)
        probs: torch.Tensor | None = None
        for index, layer in enumerate(self.bert.encoder.layer):
            if index in selected and probs is not None:
                restored = _write(restored, hidden, mask, positions, seq_len)
                before = _alive(mask, positions, seq_len)
                score = acc_score(probs, mask)
                hidden, mask, positions = self.selector(
                    hidden, mask, positions, score, n_valid, ratios[index], self.min_keep
                )
                gone = before & ~_alive(mask, positions, seq_len)
                dropped_before = torch.where(gone, torch.full_like(dropped_before, index), dropped_before)
            attention_output, probs = layer.attention(hidden, additive_mask(mask, hidden.dtype))
            hidden = layer.feed_forward_chunk(attention_output)
        restored = _write(restored, hidden, mask, positions, seq_len)[:, :seq_len]
        logits = self.classifier(self.dropout(restored))
        return TokenOutput(logits, restored, dropped_before)


def _write(
    restored: torch.Tensor, hidden: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, seq_len: int
) -> torch.Tensor:
    """``restored`` with each real slot's state written at its original position (masked slots go to column N)."""
    target = torch.where(mask > 0, positions, torch.full_like(positions, seq_len))
    index = target[:, :, None].expand(-1, -1, hidden.shape[2])
    return restored.scatter(1, index, hidden.to(restored.dtype))


def _alive(mask: torch.Tensor, positions: torch.Tensor, seq_len: int) -> torch.Tensor:
    """[B, N] bool over original positions: which word-vectors are in the current (kept) set."""
    alive = torch.zeros(mask.shape[0], seq_len + 1, dtype=torch.bool, device=mask.device)
    target = torch.where(mask > 0, positions, torch.full_like(positions, seq_len))
    return alive.scatter(1, target, mask > 0)[:, :seq_len]
