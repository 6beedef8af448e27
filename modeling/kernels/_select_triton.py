"""Triton kernel behind fused token selection: finish the ACC score, top-k, keep original order, gather.

One launch per selection. Program (b, d) owns sample b and one slice of the hidden width: it rebuilds the row's
score from the per-head column sums (cheap: H·N floats), ranks every word-vector by counting how many others beat
it, turns ranks into output slots with one prefix sum, and scatters its hidden slice to those slots.
Program (b, 0) also writes the mask, positions and (optionally) the score. Ranking by counting is O(N²) per row,
which for N ≤ 512 costs less than the launches of ``topk`` + ``sort`` + ``gather`` it replaces.
"""

from __future__ import annotations

import triton
import triton.language as tl


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
