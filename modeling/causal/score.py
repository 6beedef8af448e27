"""The ACC score under causal attention: normalised by how many queries can see each word-vector
(docs/METHOD.md#8-other-families).

In causal attention word-vector j only receives attention from queries i ≥ j, so raw column sums favour early
tokens (token 0 gets a share from every query). Dividing column j by the number of valid queries that can see it
makes the score an average attention received, comparable across positions.
"""

from __future__ import annotations

import torch


def causal_acc_score(probs: torch.Tensor, mask: torch.Tensor, pin_last: bool = True) -> torch.Tensor:
    """ACC[b, j] = Σ_h Σ_{i ≥ j, i valid} A[b, h, i, j] / (H · #{i ≥ j valid}), in fp32.

    probs: [B, H, N, N] causal attention probabilities (row = query); slots are in original order, so "i ≥ j" is the
    slot order. mask: [B, N], 1 for real word-vectors. Padding and filler slots get −inf (dropped first); the last
    valid slot (the last prompt token, whose output predicts the first new token) gets +inf so it is always kept.
    Left and right padding both work: counts come from the mask, not from N − j.
    """
    with torch.autocast(device_type=probs.device.type, enabled=False):
        p = probs.float()
        m = mask.float()
        num_heads = p.shape[1]
        # Σ_i m_i · A[h, i, j]: a batched row-vector × matrix product (A[i, j] = 0 for i < j under the causal mask,
        # up to the dtype-min masking, which leaves exp(min) = 0 weight).
        column = torch.matmul(m[:, None, None, :], p).sum(dim=(1, 2))
        # valid queries at or after j: total − valid strictly before j (no flip op needed in the exported graph)
        seen_by = m.sum(dim=1, keepdim=True) - (torch.cumsum(m, dim=1) - m)
        score = column / (seen_by.clamp(min=1.0) * num_heads)
        score = torch.where(m > 0, score, torch.full_like(score, float("-inf")))
        if pin_last:
            slot = torch.arange(1, m.shape[1] + 1, device=m.device, dtype=m.dtype)[None, :]
            last = torch.argmax(m * slot, dim=1, keepdim=True)
            is_last = torch.arange(m.shape[1], device=m.device)[None, :] == last
            score = torch.where(is_last, torch.full_like(score, float("inf")), score)
        return score
