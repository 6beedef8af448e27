"""Fused ACC kernels (Triton): the score from Q, K and the attention's log-sum-exp, and selection (score, top-k, gather).

Importing this package does not import triton; the kernels load on first use. The PyTorch references in
``acc.modeling.kernels.reference`` define what the kernels compute and run anywhere.
"""

from __future__ import annotations

from .ops import (
    BACKENDS,
    KernelUnavailableError,
    causal_row_lse,
    column_sums,
    resolve_backend,
    row_lse,
    select_fused,
    triton_status,
)
from .reference import (
    acc_score_from_qk,
    causal_acc_score_from_qk,
    causal_column_sums_reference,
    causal_row_lse_reference,
    column_sums_reference,
    finish_causal_score,
    finish_score,
    row_lse_reference,
    select_ranked,
    select_static,
)

__all__ = [
    "BACKENDS",
    "KernelUnavailableError",
    "acc_score_from_qk",
    "causal_acc_score_from_qk",
    "causal_column_sums_reference",
    "causal_row_lse",
    "causal_row_lse_reference",
    "column_sums",
    "column_sums_reference",
    "finish_causal_score",
    "finish_score",
    "resolve_backend",
    "row_lse",
    "row_lse_reference",
    "select_fused",
    "select_ranked",
    "select_static",
    "triton_status",
]
