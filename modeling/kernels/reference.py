"""PyTorch references of the fused kernels: they define the semantics the kernels are tested against.

``acc_score_from_qk`` is the ACC score of ``acc.modeling.score.acc_score`` computed from queries and keys (the
probabilities materialised in fp32); ``select_static`` is ``acc.modeling.select.select_tokens`` with a static number
of slots, so it can run inside a CUDA graph (no ``int(k.max())`` host sync). They run anywhere, CPU CI included.
"""

from __future__ import annotations

import torch

from acc.modeling.score import acc_score
from acc.modeling.select import Selection, keep_counts_tensor, select_into_slots


def key_bias(mask: torch.Tensor) -> torch.Tensor:
    """[B, N] 0/1 → [B, 1, 1, N] fp32 additive bias (−inf on padded keys) for fp32 reference logits."""
    return torch.where(mask[:, None, None, :] > 0, 0.0, float("-inf")).float()


def attention_logits(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """[B, H, N, N] fp32 q·kᵀ·scale with padded keys at −inf: the n×n tensor the kernels never store."""
    return torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale + key_bias(mask)


def row_lse_reference(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """lse[b, h, i] over valid keys, fp32 [B, H, N]."""
    return torch.logsumexp(attention_logits(q, k, mask, scale), dim=-1)


def column_sums_reference(
    q: torch.Tensor, k: torch.Tensor, lse: torch.Tensor, mask: torch.Tensor, scale: float
) -> torch.Tensor:
    """[B, H, N] Σ_{i valid} exp(q_i·k_j·scale − lse_i), keys unmasked (as the kernel: they are −inf later)."""
    n = q.shape[2]
    logits = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    probs = torch.exp(logits - lse[:, :, :n, None].float())
    return (probs * (mask[:, None, :, None] > 0)).sum(dim=2)


def acc_score_from_qk(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, scale: float, pin_first: bool = True
) -> torch.Tensor:
    """The model's ACC score (``acc_score``) of the attention that q, k and the key mask define, all in fp32."""
    probs = torch.softmax(attention_logits(q, k, mask, scale), dim=-1)
    return acc_score(probs, mask, pin_first)


def finish_score(partial: torch.Tensor, mask: torch.Tensor, pin_first: bool = True) -> torch.Tensor:
    """Per-head column sums [B, H, N] → ACC score [B, N], with acc_score's normalisation, −inf and +inf."""
    m = mask.float()
    score = partial.float().sum(dim=1) / (m.sum(dim=1, keepdim=True).clamp(min=1.0) * partial.shape[1])
    score = torch.where(m > 0, score, torch.full_like(score, float("-inf")))
    if pin_first:
        score[:, 0] = float("inf")
    return score


def select_static(
    hidden: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    score: torch.Tensor,
    n_valid: torch.Tensor,
    ratio: float | torch.Tensor,
    slots: int,
    min_keep: int = 1,
) -> Selection:
    """``select_tokens`` with ``slots`` output slots instead of the batch's largest keep count.

    ``slots`` must be at least every sample's keep count (the keep count at the bucket's full length is, since
    it grows with n_valid); the extra slots are masked fillers, which later layers ignore. Same ops as
    ``select_tokens`` (top-k, sort, gather), so tie order is as unspecified as there.
    """
    n_current = mask.long().sum(dim=1)
    k = torch.clamp(keep_counts_tensor(torch.as_tensor(ratio), n_valid, n_current, min_keep), max=slots)
    return select_into_slots(hidden, positions, score, k, slots)


def select_ranked(
    hidden: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    score: torch.Tensor,
    n_valid: torch.Tensor,
    ratio: float | torch.Tensor,
    slots: int,
    min_keep: int = 1,
) -> Selection:
    """``select_static`` with the kernels' tie order made explicit, so every slot can be compared exactly.

    Equal scores rank by position (a stable descending sort), the k kept word-vectors take the first slots in
    original order and the next ranks fill the remaining slots, also in original order.
    """
    batch, n = score.shape
    n_current = mask.long().sum(dim=1)
    k = torch.clamp(keep_counts_tensor(torch.as_tensor(ratio), n_valid, n_current, min_keep), max=slots)
    order = torch.sort(score, dim=1, descending=True, stable=True).indices
    slot_of = torch.arange(n, device=score.device).expand(batch, n)
    rank = torch.empty_like(order).scatter_(1, order, slot_of)
    group = torch.where(rank < k[:, None], 0, torch.where(rank < slots, 1, 2))  # kept, filler, dropped
    index = torch.sort(group * n + slot_of, dim=1).indices[:, :slots]
    hidden_out = torch.gather(hidden, 1, index[:, :, None].expand(-1, -1, hidden.shape[2]))
    kept = (torch.arange(slots, device=score.device)[None, :] < k[:, None]).to(mask.dtype)
    return Selection(hidden_out, kept, torch.gather(positions, 1, index))


# ------------------------------------------------------------------------------------------ causal attention (GPT-2)


def causal_allowed(mask: torch.Tensor) -> torch.Tensor:
    """[B, N] 0/1 → [B, 1, N, N] bool: query i may see key j iff j ≤ i and j is valid (slots in original order)."""
    n = mask.shape[1]
    lower = torch.ones(n, n, dtype=torch.bool, device=mask.device).tril()
    return lower[None, None] & (mask[:, None, None, :] > 0)


def causal_row_lse_reference(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """Causal lse[b, h, i] over valid keys j ≤ i, fp32 [B, H, N] (rows without a valid key: finite, unused)."""
    logits = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    return torch.logsumexp(torch.where(causal_allowed(mask), logits, -1.0e30), dim=-1)


def causal_column_sums_reference(
    q: torch.Tensor, k: torch.Tensor, lse: torch.Tensor, mask: torch.Tensor, scale: float
) -> torch.Tensor:
    """[B, H, N] Σ_{i ≥ j, i valid} exp(q_i·k_j·scale − lse_i); keys unmasked, as the kernel."""
    n = q.shape[2]
    logits = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    counted = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()[None, None] & (mask[:, None, :, None] > 0)
    # where, not a product: a padded query's lse may be −1e30 (no key to see), and exp of it overflows to inf
    probs = torch.where(counted, torch.exp(logits - lse[:, :, :n, None].float()), 0.0)
    return probs.sum(dim=2)


def finish_causal_score(partial: torch.Tensor, mask: torch.Tensor, pin_last: bool = True) -> torch.Tensor:
    """Per-head causal column sums [B, H, N] → ``causal_acc_score``'s [B, N] (same normalisation, −inf, +inf)."""
    m = mask.float()
    seen_by = m.sum(dim=1, keepdim=True) - (torch.cumsum(m, dim=1) - m)
    score = partial.float().sum(dim=1) / (seen_by.clamp(min=1.0) * partial.shape[1])
    score = torch.where(m > 0, score, torch.full_like(score, float("-inf")))
    if pin_last:
        slot = torch.arange(1, m.shape[1] + 1, device=m.device, dtype=m.dtype)[None, :]
        last = torch.argmax(m * slot, dim=1, keepdim=True)
        is_last = torch.arange(m.shape[1], device=m.device)[None, :] == last
        score = torch.where(is_last, torch.full_like(score, float("inf")), score)
    return score


def causal_acc_score_from_qk(
    q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, scale: float, pin_last: bool = True
) -> torch.Tensor:
    """The causal model's score (``causal_acc_score``) of the causal attention q, k and the key mask define, fp32."""
    from acc.modeling.causal.score import causal_acc_score

    logits = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    probs = torch.softmax(torch.where(causal_allowed(mask), logits, -1.0e30), dim=-1)
    return causal_acc_score(probs, mask, pin_last)
