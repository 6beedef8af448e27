"""The ACC score: how much attention context each word-vector gives the rest of the sequence.

Definition and contract: docs/METHOD.md#1-acc-score.
"""

from __future__ import annotations

import torch


def acc_score(probs: torch.Tensor, mask: torch.Tensor, pin_first: bool = True) -> torch.Tensor:
    """ACC[b, j] = Σ_h Σ_{i valid} A[b, h, i, j] / (H · n_valid[b]), in fp32.

    probs: [B, H, N, N] attention probabilities (rows = queries). mask: [B, N], 1 for real word-vectors.
    Padding gets −inf so it is dropped first; position 0 ([CLS]) gets +inf so it is never dropped, because the
    classifier reads it. The normalisation keeps scores comparable across lengths; it does not change the ranking.
    """
    with torch.autocast(device_type=probs.device.type, enabled=False):  # fp32 even inside a bf16 autocast region
        return _acc_score_fp32(probs.float(), mask.float(), pin_first)


def _acc_score_fp32(p: torch.Tensor, m: torch.Tensor, pin_first: bool) -> torch.Tensor:
    num_heads = p.shape[1]
    # Σ_i m_i · A[h, i, j] as a batched row-vector × matrix product, then Σ over heads: a MatMul every backend
    # (ORT, TensorRT) runs fast, where an Einsum or a masked [B,H,N,N] reduction may not be.
    column = torch.matmul(m[:, None, None, :], p).sum(dim=(1, 2))
    n_valid = m.sum(dim=1, keepdim=True).clamp(min=1.0)
    score = column / (n_valid * num_heads)
    score = torch.where(m > 0, score, torch.full_like(score, float("-inf")))
    if pin_first:
        first = torch.arange(score.shape[1], device=score.device)[None, :] == 0
        score = torch.where(first, torch.full_like(score, float("inf")), score)
    return score
