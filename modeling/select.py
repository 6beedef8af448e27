"""TokenSelect in PyTorch: keep the top-k word-vectors by ACC score, in original order (docs/METHOD.md#2-selection).

This is the reference semantics of the ONNX function ``ai.acc::TokenSelect`` (``acc.exporter.token_select``);
both use the same float32 keep-count arithmetic so they agree to the token.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from acc.profiles import keep_count


class Selection(NamedTuple):
    """Word-vectors after one selection. Kept vectors come first, in original order; then masked filler slots."""

    hidden: torch.Tensor  # [B, K, D]
    mask: torch.Tensor  # [B, K] int64, 1 for kept vectors
    positions: torch.Tensor  # [B, K] int64, original input positions of the slots


def keep_counts_tensor(
    ratio: torch.Tensor, n_valid: torch.Tensor, n_current: torch.Tensor, min_keep: int
) -> torch.Tensor:
    """k = clamp(ceil(ratio · n_valid), min_keep, n_current) per sample, float32 like the ONNX graph."""
    raw = torch.ceil(ratio.float() * n_valid.float()).long()
    return torch.minimum(torch.clamp(raw, min=min_keep), n_current)


def padded_length(input_ids: torch.Tensor) -> torch.Tensor:
    """The padded sequence length as a 0-d int64 tensor read from the *shape* (traces to ONNX ``Shape``).

    Static-width selection derives every layer's width from it, so a graph's intermediate shapes depend on the
    input shape only: no device-to-host copy of data on a GPU, and fixed-shape runs can be captured as CUDA graphs.
    """
    return torch._shape_as_tensor(input_ids)[1]


def static_width(ratio: float | torch.Tensor, padded_len: int | torch.Tensor, current: int, min_keep: int) -> int:
    """Slots after a selection: ``clamp(ceil(ratio · N), min_keep, current)`` for the padded length N.

    Every sample's keep count is at most this (it grows with the valid length, which is at most N), so the extra
    slots are masked fillers. It is exactly the keep count of a full-length sample (``keep_count``, float32).
    """
    return keep_count(float(ratio), int(padded_len), current, min_keep)


def select_tokens(
    hidden: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    score: torch.Tensor,
    n_valid: torch.Tensor,
    ratio: torch.Tensor,
    min_keep: int = 1,
    padded_len: int | torch.Tensor | None = None,
) -> Selection:
    """Keep ``k_b`` word-vectors of sample b, in original order, then masked filler slots.

    hidden [B, N, D]; mask [B, N]; positions [B, N] int64; score [B, N] (ACC, −inf on padding, +inf on [CLS]);
    n_valid [B] the sample's original valid length (profiles are ratios of it); ratio: 0-d float tensor.
    The output width is ``static_width`` of ``padded_len`` (the input's padded length) when given, else the batch's
    largest keep count. A sample's kept set depends only on its own scores and length, never on the batch.
    """
    n_current = mask.long().sum(dim=1)
    k = keep_counts_tensor(ratio, n_valid, n_current, min_keep)
    if padded_len is None:
        slots = int(k.max())
    else:
        slots = static_width(ratio, padded_len, score.shape[1], min_keep)
    return select_into_slots(hidden, positions, score, k, slots)


def select_into_slots(
    hidden: torch.Tensor, positions: torch.Tensor, score: torch.Tensor, k: torch.Tensor, slots: int
) -> Selection:
    """The top-``k_b`` word-vectors of each sample in its first slots (original order), fillers in the rest."""
    top = torch.topk(score, slots, dim=1, largest=True, sorted=True).indices
    rank = torch.arange(slots, device=score.device)[None, :]
    kept = rank < k[:, None]
    # Kept slots sort by original position; filler slots go after them (offset by N).
    order_key = torch.where(kept, top, top + score.shape[1])
    order = torch.sort(order_key, dim=1).indices
    index = torch.gather(top, 1, order)
    hidden_out = torch.gather(hidden, 1, index[:, :, None].expand(-1, -1, hidden.shape[2]))
    return Selection(hidden_out, kept.long(), torch.gather(positions, 1, index))
