"""Attention for the fast path: fused SDPA, fused SDPA that also returns the row log-sum-exp, and eager.

The ACC score needs each query row's softmax normaliser. Fused attention kernels compute it anyway (it is what
their backward pass reads), and ``torch.ops.aten`` exposes it: flash attention (fp16/bf16, no mask) and
memory-efficient attention (any dtype, additive mask) on CUDA, the flash CPU kernel on CPU. So the score costs one
extra Q·Kᵀ sweep in the Triton column-sum kernel and no n×n tensor. ``lse_source="kernel"`` instead computes the
log-sum-exp with a Triton kernel after public SDPA: the fallback when an aten op is missing or refuses its inputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from acc.modeling.kernels import row_lse
from acc.profiles import ModelError

LSE_SOURCES = ("sdpa", "kernel")
_BIAS_ALIGN = 16  # memory-efficient attention wants the bias row stride aligned to 16 elements


def key_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, N] 0/1 → [B, 1, 1, N] additive bias (0 or dtype-min, as eager BERT), row stride padded to 16."""
    _batch, n = mask.shape
    width = -(-n // _BIAS_ALIGN) * _BIAS_ALIGN
    values = (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
    return F.pad(values, (0, width - n))[..., :n]


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None, scale: float, causal: bool = False
) -> torch.Tensor:
    """Fused SDPA (flash without a mask, memory-efficient/cuDNN with one); q, k, v [B, H, N, dh].

    ``causal``: GPT-2's attention — without a bias it is causal over slots; a bias (left padding) carries the
    causal mask itself.
    """
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, is_causal=causal and bias is None, scale=scale)


def attention_with_lse(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor | None,
    mask: torch.Tensor,
    scale: float,
    lse_source: str = "sdpa",
    kernel_backend: str = "auto",
    causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(output [B, H, N, dh], lse [B, H, ≥N] fp32). ``mask`` [B, N] is what ``bias`` encodes (for the kernel).

    ``causal``: as in ``attention``; the lse is then over the keys each query may see.
    """
    if lse_source not in LSE_SOURCES:
        raise ModelError(f"unknown lse source {lse_source!r}; pass one of {', '.join(LSE_SOURCES)}")
    if lse_source == "kernel":
        return attention(q, k, v, bias, scale, causal), row_lse(
            q, k, mask, scale, backend=kernel_backend, causal=causal
        )
    is_causal = causal and bias is None
    if q.device.type == "cpu":
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, is_causal, attn_mask=bias, scale=scale
        )[:2]
    if bias is None and q.dtype in (torch.float16, torch.bfloat16):
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, is_causal, False, scale=scale)[:2]
        return out, lse
    batch, heads, n, _ = q.shape
    full_bias = None if bias is None else bias.expand(batch, heads, n, n)
    efficient = torch.ops.aten._scaled_dot_product_efficient_attention
    out, lse = efficient(q, k, v, full_bias, True, 0.0, is_causal, scale=scale)[:2]
    return out, lse


def attention_probs(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention as Hugging Face BERT runs it: (output, probabilities [B, H, N, N] in the model dtype)."""
    logits = torch.matmul(q, k.transpose(-1, -2)) * scale
    if bias is not None:
        logits = logits + bias
    probs = torch.softmax(logits, dim=-1)
    return torch.matmul(probs, v), probs
