"""Triton kernels behind the fused ACC score: per-row log-sum-exp and per-head column sums of probabilities.

Imported only by ``acc.modeling.kernels.ops`` on first use (importing triton is slow and GPU-specific).
Nothing n×n is stored: each program recomputes a tile of Q·Kᵀ in registers, exponentiates it against the row's
log-sum-exp and keeps only the column sums. ``TRITON_INTERPRET=1`` (read when this module is imported) runs the same
code on CPU tensors, which is how CI checks the kernels' logic.

``CAUSAL`` (GPT-2) is a compile-time switch of the same kernels: slots are in original order and valid slots'
positions increase with the slot index (the prompt's order, kept by every selection), so for a valid query i and a
valid key j "j may be seen by i" is exactly j ≤ i; the loops then skip the tiles entirely in the future.
Tile sizes and warps come from ``ops._column_config`` / ``ops._lse_config``.
"""

from __future__ import annotations

import triton
import triton.language as tl

LOG2E = 1.4426950408889634


# Arguments that change with the sequence length are not specialised on (divisibility by 16, == 1): one compiled
# variant then serves every layer's length instead of one per length class, which keeps first-call compiles short.
_LENGTH_ARGS_LSE = ["N", "s_qb", "s_kb", "s_mb", "s_lb", "s_lh"]
_LENGTH_ARGS_COLUMN = ["N", "s_qb", "s_kb", "s_lb", "s_lh", "s_mb", "s_ob", "s_oh"]


@triton.jit(do_not_specialize=_LENGTH_ARGS_LSE)
def _row_lse_kernel(
    q_ptr, k_ptr, mask_ptr, lse_ptr,
    N, H, scale_log2e,
    s_qb, s_qh, s_qn, s_kb, s_kh, s_kn, s_mb, s_lb, s_lh,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_J: tl.constexpr,
    IEEE: tl.constexpr, CAUSAL: tl.constexpr,
):  # fmt: skip
    """lse[b, h, i] = log Σ_{j valid (and j ≤ i if CAUSAL)} exp(q_i·k_j · scale): the softmax rows' normaliser.

    CAUSAL skips key blocks past the query block. A causal row with no valid key (a padded query before the first
    real token) gets a finite garbage value; its query is masked out of the column sums anyway.
    """
    pid_bh = tl.program_id(0)
    b = pid_bh // H
    h = pid_bh % H
    i_start = tl.program_id(1) * BLOCK_I
    offs_i = i_start + tl.arange(0, BLOCK_I)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < HEAD_DIM
    q = tl.load(q_ptr + b * s_qb + h * s_qh + offs_i[:, None] * s_qn + offs_d[None, :],
                mask=(offs_i[:, None] < N) & d_ok[None, :], other=0.0)  # fmt: skip
    row_max = tl.full([BLOCK_I], -1.0e30, tl.float32)  # finite start: a first block of only masked keys stays NaN-free
    row_sum = tl.zeros([BLOCK_I], tl.float32)
    if CAUSAL:
        end = i_start + BLOCK_I  # keys past the query block are all in the future
    else:
        end = N
    for start in range(0, end, BLOCK_J):
        offs_j = start + tl.arange(0, BLOCK_J)
        kt = tl.load(k_ptr + b * s_kb + h * s_kh + offs_j[None, :] * s_kn + offs_d[:, None],
                     mask=(offs_j[None, :] < N) & d_ok[:, None], other=0.0)  # fmt: skip
        key_ok = tl.load(mask_ptr + b * s_mb + offs_j, mask=offs_j < N, other=0) > 0
        if IEEE:
            s = tl.dot(q, kt, input_precision="ieee")
        else:
            s = tl.dot(q, kt)
        if CAUSAL:
            seen = key_ok[None, :] & (offs_j[None, :] <= offs_i[:, None])
            s = tl.where(seen, s * scale_log2e, -1.0e30)
            new_max = tl.maximum(row_max, tl.max(s, axis=1))
            p = tl.where(seen, tl.exp2(s - new_max[:, None]), 0.0)
        else:
            s = tl.where(key_ok[None, :], s * scale_log2e, float("-inf"))
            new_max = tl.maximum(row_max, tl.max(s, axis=1))
            p = tl.exp2(s - new_max[:, None])
        row_sum = row_sum * tl.exp2(row_max - new_max) + tl.sum(p, axis=1)
        row_max = new_max
    if CAUSAL:
        row_sum = tl.maximum(row_sum, 1.0e-30)
    lse = (row_max + tl.log2(row_sum)) / 1.4426950408889634
    tl.store(lse_ptr + b * s_lb + h * s_lh + offs_i, lse, mask=offs_i < N)


@triton.jit(do_not_specialize=_LENGTH_ARGS_COLUMN)
def _column_sum_kernel(
    q_ptr, k_ptr, lse_ptr, mask_ptr, out_ptr,
    N, H, scale_log2e,
    s_qb, s_qh, s_qn, s_kb, s_kh, s_kn, s_lb, s_lh, s_mb, s_ob, s_oh,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_J: tl.constexpr,
    IEEE: tl.constexpr, CAUSAL: tl.constexpr,
):  # fmt: skip
    """out[b, h, j] = Σ_{i valid (and i ≥ j if CAUSAL)} exp(q_i·k_j · scale − lse_i), fp32: one head's column sum.

    Keys are not masked here: a padded key's score is set to −inf by the selection anyway, and its probability
    never enters another column. Queries are masked through their lse (+inf: exp gives 0), so padding and filler
    slots do not vote. Probabilities accumulate in a [BLOCK_I, BLOCK_J] tile and are reduced over queries once, at
    the end, instead of once per query block. CAUSAL visits only query blocks from the key block on (about half
    the work) and keeps i ≥ j.
    """
    pid_bh = tl.program_id(0)
    b = pid_bh // H
    h = pid_bh % H
    j_start = tl.program_id(1) * BLOCK_J
    offs_j = j_start + tl.arange(0, BLOCK_J)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < HEAD_DIM
    kt = tl.load(k_ptr + b * s_kb + h * s_kh + offs_j[None, :] * s_kn + offs_d[:, None],
                 mask=(offs_j[None, :] < N) & d_ok[:, None], other=0.0)  # fmt: skip
    acc = tl.zeros([BLOCK_I, BLOCK_J], tl.float32)
    first = j_start * CAUSAL  # CAUSAL: queries before the key block all have i < j; else every query block
    for start in range(first, N, BLOCK_I):
        offs_i = start + tl.arange(0, BLOCK_I)
        in_range = offs_i < N
        q = tl.load(q_ptr + b * s_qb + h * s_qh + offs_i[:, None] * s_qn + offs_d[None, :],
                    mask=in_range[:, None] & d_ok[None, :], other=0.0)  # fmt: skip
        query_ok = tl.load(mask_ptr + b * s_mb + offs_i, mask=in_range, other=0) > 0
        lse = tl.load(lse_ptr + b * s_lb + h * s_lh + offs_i, mask=in_range, other=0.0)
        lse2 = tl.where(query_ok, lse * 1.4426950408889634, float("inf"))
        if IEEE:
            s = tl.dot(q, kt, input_precision="ieee")
        else:
            s = tl.dot(q, kt)
        p = tl.exp2(s * scale_log2e - lse2[:, None])
        if CAUSAL:
            p = tl.where(offs_i[:, None] >= offs_j[None, :], p, 0.0)
        acc += p
    tl.store(out_ptr + b * s_ob + h * s_oh + offs_j, tl.sum(acc, axis=0), mask=offs_j < N)
