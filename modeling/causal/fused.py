"""Causal attention for the fused prefill: SDPA for the output, the Triton column sums for the ACC score.

The eager prefill materialises every selecting layer's [B, H, N, N] probabilities only to sum their columns. Here
the output comes from fused causal attention, which also keeps each row's log-sum-exp (flash attention without a
mask, memory-efficient attention with one, the flash CPU kernel on CPU); the Triton kernel then recomputes Q·Kᵀ
tile by tile and keeps only the per-head column sums of queries i ≥ j (``acc.modeling.kernels``). Nothing n×n
is stored and, once the prompt's slots are "valid first, in order" (no left padding, or after any selection),
no mask tensor is built either: causal over slots is then exactly GPT-2's mask for every valid query.
"""

from __future__ import annotations

import torch

from acc.modeling.fast.attention import attention, attention_with_lse
from acc.modeling.kernels import column_sums
from acc.modeling.select import static_width

_BIAS_ALIGN = 16  # memory-efficient attention wants the bias row stride aligned to 16 elements


def valid_prefix(mask: torch.Tensor) -> bool:
    """True when no valid slot follows a padded one in any row ([B, N] 0/1): slot-causal attention is then exact."""
    return not bool((mask[:, 1:] > mask[:, :-1]).any())


def static_slots(ratio: float, width: int, slots_now: int, min_keep: int) -> int:
    """Slots a selection needs for any sample of a ``width``-wide batch, computed on the host (no sync).

    ``keep_counts_tensor``'s float32 ceil(ratio · n_valid) grows with n_valid ≤ width, so its value at ``width``
    bounds every sample's keep count; samples that keep fewer get masked filler slots.
    """
    return max(1, static_width(ratio, width, slots_now, min_keep))


def causal_bias(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, Nq, Nk] bool → [B, 1, Nq, Nk] additive bias (0 or dtype-min/2, as the eager block), rows 16-aligned."""
    batch, rows, cols = allowed.shape
    width = -(-cols // _BIAS_ALIGN) * _BIAS_ALIGN
    bias = torch.full((batch, 1, rows, width), torch.finfo(dtype).min / 2, dtype=dtype, device=allowed.device)
    return bias[..., :cols].masked_fill_(allowed[:, None], 0.0)  # in place: keeps the aligned row stride


def fused_causal_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor | None,
    mask: torch.Tensor,
    scale: float,
    need_score: bool,
    lse_source: str = "sdpa",
    kernel_backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(output, per-head causal column sums [B, H, N] fp32 when ``need_score``; finish with finish_causal_score)."""
    if not need_score:
        return attention(q, k, v, bias, scale, causal=True), None
    out, lse = attention_with_lse(q, k, v, bias, mask, scale, lse_source, kernel_backend, causal=True)
    return out, column_sums(q, k, lse, mask, scale, backend=kernel_backend, causal=True)
