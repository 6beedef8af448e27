"""The fused ACC kernels as they were before issue #9's rework (commit 1d82379), kept as the sweep's baseline.

``kernels_sweep.py`` times these against the current kernels on the same inputs and checks both give the same
selection. Only ``_column_sum_kernel`` (non-causal) and ``_select_kernel`` with their launch code, unchanged.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from acc.modeling.select import Selection

_LENGTH_ARGS_COLUMN = ["N", "s_qb", "s_kb", "s_lb", "s_lh", "s_mb", "s_ob", "s_oh"]


@triton.jit(do_not_specialize=_LENGTH_ARGS_COLUMN)
def _column_sum_kernel(
    q_ptr, k_ptr, lse_ptr, mask_ptr, out_ptr,
    N, H, scale_log2e,
    s_qb, s_qh, s_qn, s_kb, s_kh, s_kn, s_lb, s_lh, s_mb, s_ob, s_oh,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_J: tl.constexpr,
    IEEE: tl.constexpr,
):  # fmt: skip
    """out[b, h, j] = Σ_{i valid} exp(q_i·k_j · scale − lse_i), fp32: one head's share of the ACC column sum.

    Keys are not masked here: a padded key's score is set to −inf by the selection anyway, and its probability
    never enters another column. Queries are masked through their lse (+inf: exp gives 0), so padding and filler
    slots do not vote. Probabilities accumulate in a [BLOCK_I, BLOCK_J] tile and are reduced over queries once, at
    the end, instead of once per query block.
    """
    pid_bh = tl.program_id(0)
    b = pid_bh // H
    h = pid_bh % H
    offs_j = tl.program_id(1) * BLOCK_J + tl.arange(0, BLOCK_J)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < HEAD_DIM
    kt = tl.load(k_ptr + b * s_kb + h * s_kh + offs_j[None, :] * s_kn + offs_d[:, None],
                 mask=(offs_j[None, :] < N) & d_ok[:, None], other=0.0)  # fmt: skip
    acc = tl.zeros([BLOCK_I, BLOCK_J], tl.float32)
    for start in range(0, N, BLOCK_I):
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
        acc += tl.exp2(s * scale_log2e - lse2[:, None])
    tl.store(out_ptr + b * s_ob + h * s_oh + offs_j, tl.sum(acc, axis=0), mask=offs_j < N)


@triton.jit
def _row_score(partial_ptr, mask_ptr, b, offs, N, H, denom, s_pb, s_ph, s_mb, PIN_FIRST: tl.constexpr,
               CAUSAL: tl.constexpr, last, row_offs, row_valid, seen_by, FULL_ROW: tl.constexpr):  # fmt: skip
    """ACC score of positions ``offs``: Σ_h partial / (H·n_current); −inf on padding and past N; +inf on [CLS].

    CAUSAL (GPT-2, ``finish_causal_score``): the denominator is H·#{valid t ≥ j} instead, and the pinned slot is
    ``last`` (the last valid one). With FULL_ROW (``offs`` is the whole row) ``seen_by`` is that count, from a
    prefix sum; for a block of the row it is counted here against ``row_valid``. Integer counts, so both ways give
    bit-identical scores.
    """
    in_range = offs < N
    column = tl.zeros(offs.shape, tl.float32)
    for h in range(0, H):
        column += tl.load(partial_ptr + b * s_pb + h * s_ph + offs, mask=in_range, other=0.0)
    if CAUSAL:
        if not FULL_ROW:
            later = (row_offs[None, :] >= offs[:, None]) & row_valid[None, :]
            seen_by = tl.sum(later.to(tl.int32), axis=1)
        denom = tl.maximum(seen_by, 1).to(tl.float32) * H
    score = tl.math.div_rn(column, denom)  # IEEE division, as the PyTorch reference
    valid = tl.load(mask_ptr + b * s_mb + offs, mask=in_range, other=0) > 0
    score = tl.where(valid, score, float("-inf"))
    if PIN_FIRST:
        if CAUSAL:
            score = tl.where(offs == last, float("inf"), score)
        else:
            score = tl.where(offs == 0, float("inf"), score)
    return tl.where(in_range, score, float("-inf"))


# Not specialised on: arguments that change with the layer's length (see _score_triton).
_LENGTH_ARGS = ["N", "K", "min_keep", "s_pb", "s_mb", "s_posb", "s_mob", "s_pob", "s_sb"]


@triton.jit(do_not_specialize=_LENGTH_ARGS)
def _select_kernel(
    partial_ptr, mask_ptr, n_valid_ptr, hidden_ptr, pos_ptr,
    hidden_out_ptr, mask_out_ptr, pos_out_ptr, score_out_ptr,
    N, H, D, K, ratio, min_keep,
    s_pb, s_ph, s_mb, s_hb, s_hn, s_posb, s_ob, s_on, s_mob, s_pob, s_sb,
    PIN_FIRST: tl.constexpr, WRITE_SCORE: tl.constexpr, CAUSAL: tl.constexpr,
    N_POW2: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_D: tl.constexpr, CHUNK_D: tl.constexpr,
):  # fmt: skip
    b = tl.program_id(0)
    pid_d = tl.program_id(1)
    leader = pid_d == 0
    offs = tl.arange(0, N_POW2)
    in_range = offs < N
    row_valid = tl.load(mask_ptr + b * s_mb + offs, mask=in_range, other=0) > 0
    row_valid_i = row_valid.to(tl.int32)
    n_current = tl.sum(row_valid_i, axis=0)
    last = tl.max(tl.where(row_valid, offs, 0), axis=0)  # CAUSAL pins the last valid slot (argmax, as the reference)
    seen_by = n_current - (tl.cumsum(row_valid_i, axis=0) - row_valid_i)  # CAUSAL: valid slots at or after j
    # Keep count exactly as acc.modeling.select.keep_counts_tensor: float32 ceil(ratio · n_valid), clamped.
    n_valid = tl.load(n_valid_ptr + b).to(tl.float32)
    k = tl.ceil(ratio * n_valid).to(tl.int32)
    k = tl.minimum(tl.minimum(tl.maximum(k, min_keep), n_current), K)
    denom = tl.maximum(n_current, 1).to(tl.float32) * H
    scores = _row_score(partial_ptr, mask_ptr, b, offs, N, H, denom, s_pb, s_ph, s_mb, PIN_FIRST, CAUSAL, last, offs,
                        row_valid, seen_by, True)  # fmt: skip

    # rank_j = #{i beating j}, counted block of i by block of i; ties go to the lower position, so the ranks are a
    # permutation of 0..N-1. Each block's scores are recomputed by the same code, hence bit-identical to ``scores``.
    rank = tl.zeros([N_POW2], tl.int32)
    for start in range(0, N, BLOCK_I):
        offs_i = start + tl.arange(0, BLOCK_I)
        s_i = _row_score(partial_ptr, mask_ptr, b, offs_i, N, H, denom, s_pb, s_ph, s_mb, PIN_FIRST, CAUSAL, last, offs,
                         row_valid, seen_by, False)  # fmt: skip
        ahead = offs_i[None, :] < offs[:, None]
        beats = (s_i[None, :] > scores[:, None]) | ((s_i[None, :] == scores[:, None]) & ahead)
        rank += tl.sum((beats & (offs_i[None, :] < N)).to(tl.int32), axis=1)
    kept = (rank < k) & in_range
    filler = (rank >= k) & (rank < K) & in_range
    kept_i = kept.to(tl.int32)
    filler_i = filler.to(tl.int32)
    # Kept slots in original order, then filler slots (ranks k..K-1, also in original order): as select_tokens.
    slot = tl.where(kept, tl.cumsum(kept_i, axis=0) - kept_i, k + tl.cumsum(filler_i, axis=0) - filler_i)
    chosen = kept | filler

    tl.store(mask_out_ptr + b * s_mob + slot, kept_i, mask=chosen & leader)
    position = tl.load(pos_ptr + b * s_posb + offs, mask=chosen & leader, other=0)
    tl.store(pos_out_ptr + b * s_pob + slot, position, mask=chosen & leader)
    if WRITE_SCORE:
        tl.store(score_out_ptr + b * s_sb + offs, scores, mask=in_range & leader)
    for d_start in range(0, BLOCK_D, CHUNK_D):
        offs_d = pid_d * BLOCK_D + d_start + tl.arange(0, CHUNK_D)
        move = chosen[:, None] & (offs_d[None, :] < D)
        rows = tl.load(hidden_ptr + b * s_hb + offs[:, None] * s_hn + offs_d[None, :], mask=move, other=0.0)
        tl.store(hidden_out_ptr + b * s_ob + slot[:, None] * s_on + offs_d[None, :], rows, mask=move)


def _pow2(n: int, floor: int = 16) -> int:
    return max(floor, 1 << (max(int(n), 1) - 1).bit_length())


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def column_sums(q: torch.Tensor, k: torch.Tensor, lse: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
    """The old launch: 64×64 tiles (smaller for short sequences), Triton's default warps and stages."""
    batch, heads, n, head_dim = q.shape
    tile = min(64, _pow2(n))
    out = torch.empty((batch, heads, n), device=q.device, dtype=torch.float32)
    _column_sum_kernel[(batch * heads, _cdiv(n, tile))](
        q, k, lse, mask, out, n, heads, scale * 1.4426950408889634,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2), lse.stride(0), lse.stride(1),
        mask.stride(0), out.stride(0), out.stride(1),
        HEAD_DIM=head_dim, BLOCK_D=_pow2(head_dim), BLOCK_I=tile, BLOCK_J=tile, IEEE=q.dtype == torch.float32,
    )  # fmt: skip
    return out


def select_fused(hidden: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, partial: torch.Tensor,
                 n_valid: torch.Tensor, ratio: float, slots: int, min_keep: int = 1, pin_first: bool = True,
                 causal: bool = False) -> tuple[Selection, torch.Tensor]:  # fmt: skip
    """The old launch: grid (B, hidden/256), every program ranks all pairs; returns the selection and the score."""
    batch, n, width = hidden.shape
    hidden_out = torch.empty((batch, slots, width), device=hidden.device, dtype=hidden.dtype)
    mask_out = torch.empty((batch, slots), device=hidden.device, dtype=mask.dtype)
    positions_out = torch.empty((batch, slots), device=hidden.device, dtype=positions.dtype)
    score = torch.empty((batch, n), device=hidden.device, dtype=torch.float32)
    n_pow2 = _pow2(n)
    block_d = min(256, _pow2(width))
    _select_kernel[(batch, _cdiv(width, block_d))](
        partial, mask, n_valid, hidden, positions, hidden_out, mask_out, positions_out, score,
        n, partial.shape[1], width, slots, float(ratio), min_keep,
        partial.stride(0), partial.stride(1), mask.stride(0), hidden.stride(0), hidden.stride(1), positions.stride(0),
        hidden_out.stride(0), hidden_out.stride(1), mask_out.stride(0), positions_out.stride(0), score.stride(0),
        PIN_FIRST=pin_first, WRITE_SCORE=True, CAUSAL=causal, N_POW2=n_pow2, BLOCK_I=max(8, min(64, 8192 // n_pow2)),
        BLOCK_D=block_d, CHUNK_D=max(16, min(block_d, 8192 // n_pow2)), num_warps=4 if n_pow2 <= 128 else 8,
    )  # fmt: skip
    return Selection(hidden_out, mask_out, positions_out), score
