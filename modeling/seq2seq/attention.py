"""T5 attention, computed from the Hugging Face modules' weights, with position bias from *original* positions.

Why not call ``T5Attention.forward``: its cache keyword changed name between transformers releases
(``past_key_values`` → ``cache``), it computes the relative position bias for ``arange(n)`` positions, and it does
not hand out the key/value tensors the exported decoder step needs. The weights (``q``, ``k``, ``v``, ``o``,
``relative_attention_bias``) and the maths (no 1/√d scaling; bias and mask added to the scores) are stable, so we
use those and nothing else.

Relative position bias under elimination: T5 adds ``bias[h, i, j] = E[bucket(pos_j − pos_i), h]`` to the scores.
After word-vectors are dropped, slot i no longer sits at position i, so the bias is computed from each slot's
original position — exactly the rows and columns of the dense bias matrix at the kept positions.
"""

from __future__ import annotations

import torch
from torch import nn


def relative_bias(
    table: nn.Embedding,
    query_positions: torch.Tensor,
    key_positions: torch.Tensor,
    bidirectional: bool,
    num_buckets: int,
    max_distance: int,
) -> torch.Tensor:
    """``[B, H, Q, K]`` bias for queries at ``query_positions [B, Q]`` attending keys at ``key_positions [B, K]``.

    Buckets come from Hugging Face's own ``_relative_position_bucket`` so dense results match its T5 bit for bit.
    """
    from transformers.models.t5.modeling_t5 import T5Attention

    relative = key_positions[:, None, :] - query_positions[:, :, None]
    buckets = T5Attention._relative_position_bucket(
        relative, bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance
    )
    return table(buckets).permute(0, 3, 1, 2)


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[B, K]`` 0/1 key mask → ``[B, 1, 1, K]`` additive mask (0 or dtype-min), as T5's eager attention adds it."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def causal_mask(query_positions: torch.Tensor, key_positions: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[1, 1, Q, K]`` additive mask hiding keys after each query (decoder self-attention)."""
    future = key_positions[None, :] > query_positions[:, None]
    return (future.to(dtype) * torch.finfo(dtype).min)[None, None]


def split_heads(states: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``[B, N, H·dk]`` → ``[B, H, N, dk]``."""
    batch, length, width = states.shape
    return states.view(batch, length, num_heads, width // num_heads).transpose(1, 2)


def project_kv(attention: nn.Module, states: torch.Tensor, num_heads: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values ``[B, H, N, dk]`` of ``states`` (what a decoder caches)."""
    return split_heads(attention.k(states), num_heads), split_heads(attention.v(states), num_heads)


def attend(
    attention: nn.Module,
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    bias: torch.Tensor,
    dropout: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Output ``[B, Q, D]`` (after ``o``) and the attention probabilities ``[B, H, Q, K]`` (before dropout).

    ``queries`` are the normed hidden states; ``bias`` holds position bias plus masks. Softmax runs in fp32 (as
    Hugging Face's T5 does for half precision), because the ACC score ranks word-vectors by these probabilities.
    """
    num_heads = keys.shape[1]
    query = split_heads(attention.q(queries), num_heads)
    scores = torch.matmul(query, keys.transpose(2, 3)) + bias
    probs = torch.softmax(scores.float(), dim=-1).type_as(scores)
    weights = nn.functional.dropout(probs, p=dropout, training=attention.training)
    context = torch.matmul(weights, values).transpose(1, 2)
    batch, length = context.shape[:2]
    return attention.o(context.reshape(batch, length, -1)), probs
