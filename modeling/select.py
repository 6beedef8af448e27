"""TokenSelect in PyTorch: keep the top-k word-vectors by ACC score, in original order (METHOD.md §2).

This is the reference semantics of the ONNX function ``ai.acc::TokenSelect`` (``acc.exporter.token_select``);
both use the same float32 keep-count arithmetic so they agree to the token.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Selection(NamedTuple):
    """Word-vectors after one selection. Kept vectors come first, in original order; then masked filler slots."""

    hidden: torch.Tensor  # [B, K, D]
    mask: torch.Tensor  # [B, K] int64, 1 for kept vectors
    positions: torch.Tensor  # [B, K] int64, original input positions of the slots


def keep_counts_tensor(ratio: torch.Tensor, n_valid: torch.Tensor, n_current: torch.Tensor, min_keep: int) -> torch.Tensor:
    """k = clamp(ceil(ratio · n_valid), min_keep, n_current) per sample, float32 like the ONNX graph."""
    raw = torch.ceil(ratio.float() * n_valid.float()).long()
    return torch.minimum(torch.clamp(raw, min=min_keep), n_current)


def select_tokens(
    hidden: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    score: torch.Tensor,
    n_valid: torch.Tensor,
    ratio: torch.Tensor,
    min_keep: int = 1,
) -> Selection:
    """Keep ``k_b`` word-vectors of sample b; pad the kept set to the batch maximum with masked slots.

    hidden [B, N, D]; mask [B, N]; positions [B, N] int64; score [B, N] (ACC, −inf on padding, +inf on [CLS]);
    n_valid [B] the sample's original valid length (profiles are ratios of it); ratio: 0-d float tensor.
    A sample's kept set depends only on its own scores and length, so its result does not depend on the batch.
    """
    n_current = mask.long().sum(dim=1)
    k = keep_counts_tensor(ratio, n_valid, n_current, min_keep)
    k_max = int(k.max())
    top = torch.topk(score, k_max, dim=1, largest=True, sorted=True).indices
    rank = torch.arange(k_max, device=score.device)[None, :]
    kept = rank < k[:, None]
    # Kept slots sort by original position; filler slots go after them (offset by N).
    order_key = torch.where(kept, top, top + score.shape[1])
    order = torch.sort(order_key, dim=1).indices
    index = torch.gather(top, 1, order)
    hidden_out = torch.gather(hidden, 1, index[:, :, None].expand(-1, -1, hidden.shape[2]))
    return Selection(hidden_out, kept.long(), torch.gather(positions, 1, index))
