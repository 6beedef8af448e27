"""Triton kernels behind fused token selection: finish the ACC score, top-k, keep original order, gather.

Each sample's plan (which word-vector goes to which output slot) is computed in O(N) per program, not by ranking
every pair: the score row is summed over heads once (H·N floats), mapped to integer keys whose order is the float
order, and a radix search over the keys' bits finds the k-th and K-th largest key (``RADIX`` bits per step, both
thresholds in one pass). Ties at a threshold go to the lower position through one prefix sum, so the kept set is
exactly "rank < k" with rank_j = #{i : s_i > s_j or (s_i = s_j and i < j)}, what the PyTorch reference computes up
to topk's unspecified tie order. Kept word-vectors take slots 0..k-1 in original order, then ranks k..K-1 fill the
remaining slots, also in original order.

Two ways to launch it (``ops.select_fused`` picks by size):
  ``_select_kernel``       one launch, grid (B, hidden blocks): every program plans its sample (cheap, redundant)
                           and moves its slice of the hidden width; the leader writes mask, positions and score.
  ``_select_plan_kernel``  grid (B,): plans and writes mask, positions, score and the slot → position index;
  ``_gather_kernel``       then grid (B, slot blocks, hidden blocks) copies rows: full-width, coalesced, parallel.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _order_key(score):
    """uint32 whose unsigned order is the float order of ``score`` (−0.0 is taken as +0.0, so equal floats match)."""
    bits = tl.where(score == 0.0, 0.0, score).to(tl.int32, bitcast=True)
    signed = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # negative floats reversed: signed int order is the float order
    return (signed ^ -2147483648).to(tl.uint32, bitcast=True)  # shift the sign bit: unsigned order


@triton.jit
def _kth_largest(key, counted, k, K, RADIX: tl.constexpr):
    """The k-th and K-th largest of ``key`` over the ``counted`` entries (uint32; all ones when k or K is 0).

    Bits are fixed from the top, RADIX at a time: the next digit is the largest d whose candidate prefix still has
    at least k keys at or above it. Counts fall as d grows, so that d is the number of digits 1.. that pass.
    Rows [0, DIGITS) of the candidate tile search for k, rows [DIGITS, 2·DIGITS) for K: one reduction per step.
    """
    DIGITS: tl.constexpr = 1 << RADIX
    rows = tl.arange(0, 2 * DIGITS)
    digit = rows % DIGITS
    for_k = rows < DIGITS
    target = tl.where(for_k, k, K)
    prefix = tl.zeros([2 * DIGITS], tl.uint32)  # row r: the prefix found so far for its threshold
    for step in tl.static_range(32 // RADIX):
        shift = 32 - RADIX * (step + 1)
        cand = prefix | (digit.to(tl.uint32) << shift)
        at_least = (key[None, :] >= cand[:, None]) & counted[None, :]
        passes = ((tl.sum(at_least.to(tl.int32), axis=1) >= target) & (digit > 0)).to(tl.int32)
        d_k = tl.sum(tl.where(for_k, passes, 0), axis=0)
        d_big = tl.sum(tl.where(for_k, 0, passes), axis=0)
        prefix = prefix | (tl.where(for_k, d_k, d_big).to(tl.uint32) << shift)
    t_k = tl.max(tl.where(for_k, prefix, 0), axis=0)
    t_big = tl.max(tl.where(for_k, 0, prefix), axis=0)
    return t_k, t_big


@triton.jit
def _in_top(key, counted, threshold, count):
    """Entries among the ``count`` largest keys, ties at ``threshold`` to the lower position (one prefix sum)."""
    above = (key > threshold) & counted
    tie = ((key == threshold) & counted).to(tl.int32)
    room = count - tl.sum(above.to(tl.int32), axis=0)
    return above | ((tie > 0) & (tl.cumsum(tie, axis=0) - tie < room))


@triton.jit
def _plan_row(partial_ptr, mask_ptr, n_valid_ptr, b, N, K, ratio, min_keep, s_pb, s_ph, s_mb,
              HEADS: tl.constexpr, PIN_FIRST: tl.constexpr, CAUSAL: tl.constexpr, N_POW2: tl.constexpr,
              RADIX: tl.constexpr):  # fmt: skip
    """Sample b's (positions, score, kept, chosen, slot), each [N_POW2]; chosen = kept or filler.

    The score is ``finish_score`` (``finish_causal_score`` with CAUSAL) bit for bit: heads summed in order,
    integer counts, IEEE division. The keep count is ``keep_counts_tensor``'s float32 ceil(ratio · n_valid),
    clamped to [min_keep, n_current] and to the K slots.
    """
    offs = tl.arange(0, N_POW2)
    in_range = offs < N
    row_valid = tl.load(mask_ptr + b * s_mb + offs, mask=in_range, other=0) > 0
    row_valid_i = row_valid.to(tl.int32)
    n_current = tl.sum(row_valid_i, axis=0)
    column = tl.zeros([N_POW2], tl.float32)
    for h in tl.static_range(HEADS):  # unrolled: all H loads in flight at once, summed in head order
        column += tl.load(partial_ptr + b * s_pb + h * s_ph + offs, mask=in_range, other=0.0)
    if CAUSAL:
        seen_by = n_current - (tl.cumsum(row_valid_i, axis=0) - row_valid_i)  # valid slots at or after j
        denom = tl.maximum(seen_by, 1).to(tl.float32) * HEADS
    else:
        denom = tl.maximum(n_current, 1).to(tl.float32) * HEADS
    score = tl.math.div_rn(column, denom)  # IEEE division, as the PyTorch reference
    score = tl.where(row_valid, score, float("-inf"))
    if PIN_FIRST:
        if CAUSAL:
            last = tl.max(tl.where(row_valid, offs, 0), axis=0)  # the last valid slot (argmax, as the reference)
            score = tl.where(offs == last, float("inf"), score)
        else:
            score = tl.where(offs == 0, float("inf"), score)
    score = tl.where(in_range, score, float("-inf"))

    n_valid = tl.load(n_valid_ptr + b).to(tl.float32)
    k = tl.ceil(ratio * n_valid).to(tl.int32)
    k = tl.minimum(tl.minimum(tl.maximum(k, min_keep), n_current), K)
    key = _order_key(score)
    t_k, t_big = _kth_largest(key, in_range, k, K, RADIX)
    kept = _in_top(key, in_range, t_k, k)
    chosen = _in_top(key, in_range, t_big, K)  # k ≤ K, so kept ⊆ chosen
    kept_i = kept.to(tl.int32)
    filler_i = (chosen & ~kept).to(tl.int32)
    slot = tl.where(kept, tl.cumsum(kept_i, axis=0) - kept_i, k + tl.cumsum(filler_i, axis=0) - filler_i)
    return offs, score, kept_i, chosen, slot


# Not specialised on: arguments that change with the layer's length (see _score_triton).
_LENGTH_ARGS = ["N", "K", "min_keep", "s_pb", "s_mb", "s_posb", "s_mob", "s_pob", "s_sb"]


@triton.jit(do_not_specialize=_LENGTH_ARGS)
def _select_kernel(
    partial_ptr, mask_ptr, n_valid_ptr, hidden_ptr, pos_ptr,
    hidden_out_ptr, mask_out_ptr, pos_out_ptr, score_out_ptr,
    N, D, K, ratio, min_keep,
    s_pb, s_ph, s_mb, s_hb, s_hn, s_posb, s_ob, s_on, s_mob, s_pob, s_sb,
    HEADS: tl.constexpr, PIN_FIRST: tl.constexpr, WRITE_SCORE: tl.constexpr, CAUSAL: tl.constexpr,
    N_POW2: tl.constexpr, RADIX: tl.constexpr, BLOCK_D: tl.constexpr, CHUNK_D: tl.constexpr,
):  # fmt: skip
    """One launch: program (b, d) plans sample b and moves hidden columns [d·BLOCK_D, (d+1)·BLOCK_D)."""
    b = tl.program_id(0)
    pid_d = tl.program_id(1)
    offs, score, kept_i, chosen, slot = _plan_row(partial_ptr, mask_ptr, n_valid_ptr, b, N, K, ratio, min_keep, s_pb,
                                                  s_ph, s_mb, HEADS, PIN_FIRST, CAUSAL, N_POW2, RADIX)  # fmt: skip
    leader = pid_d == 0
    tl.store(mask_out_ptr + b * s_mob + slot, kept_i, mask=chosen & leader)
    position = tl.load(pos_ptr + b * s_posb + offs, mask=chosen & leader, other=0)
    tl.store(pos_out_ptr + b * s_pob + slot, position, mask=chosen & leader)
    if WRITE_SCORE:
        tl.store(score_out_ptr + b * s_sb + offs, score, mask=(offs < N) & leader)
    for d_start in tl.static_range(0, BLOCK_D, CHUNK_D):  # chunks keep the [N_POW2, CHUNK_D] tile in registers
        offs_d = pid_d * BLOCK_D + d_start + tl.arange(0, CHUNK_D)
        move = chosen[:, None] & (offs_d[None, :] < D)
        rows = tl.load(hidden_ptr + b * s_hb + offs[:, None] * s_hn + offs_d[None, :], mask=move, other=0.0)
        tl.store(hidden_out_ptr + b * s_ob + slot[:, None] * s_on + offs_d[None, :], rows, mask=move)


@triton.jit(do_not_specialize=_LENGTH_ARGS + ["s_ib"])
def _select_plan_kernel(
    partial_ptr, mask_ptr, n_valid_ptr, pos_ptr,
    index_ptr, mask_out_ptr, pos_out_ptr, score_out_ptr,
    N, K, ratio, min_keep,
    s_pb, s_ph, s_mb, s_posb, s_ib, s_mob, s_pob, s_sb,
    HEADS: tl.constexpr, PIN_FIRST: tl.constexpr, WRITE_SCORE: tl.constexpr, CAUSAL: tl.constexpr,
    N_POW2: tl.constexpr, RADIX: tl.constexpr,
):  # fmt: skip
    """Program b plans sample b: mask, positions, score and index[b, slot] = the slot's source row, for the gather."""
    b = tl.program_id(0)
    offs, score, kept_i, chosen, slot = _plan_row(partial_ptr, mask_ptr, n_valid_ptr, b, N, K, ratio, min_keep, s_pb,
                                                  s_ph, s_mb, HEADS, PIN_FIRST, CAUSAL, N_POW2, RADIX)  # fmt: skip
    tl.store(index_ptr + b * s_ib + slot, offs, mask=chosen)
    tl.store(mask_out_ptr + b * s_mob + slot, kept_i, mask=chosen)
    position = tl.load(pos_ptr + b * s_posb + offs, mask=chosen, other=0)
    tl.store(pos_out_ptr + b * s_pob + slot, position, mask=chosen)
    if WRITE_SCORE:
        tl.store(score_out_ptr + b * s_sb + offs, score, mask=offs < N)


@triton.jit(do_not_specialize=["K", "s_ib", "s_hb", "s_ob"])
def _gather_kernel(
    index_ptr, hidden_ptr, hidden_out_ptr,
    K, D, s_ib, s_hb, s_hn, s_ob, s_on,
    BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    """hidden_out[b, s, d] = hidden[b, index[b, s], d]; program (b, slot block, hidden block)."""
    b = tl.program_id(0)
    offs_s = tl.program_id(1) * BLOCK_S + tl.arange(0, BLOCK_S)
    offs_d = tl.program_id(2) * BLOCK_D + tl.arange(0, BLOCK_D)
    slot_ok = offs_s < K
    rows = tl.load(index_ptr + b * s_ib + offs_s, mask=slot_ok, other=0)
    move = slot_ok[:, None] & (offs_d[None, :] < D)
    values = tl.load(hidden_ptr + b * s_hb + rows[:, None] * s_hn + offs_d[None, :], mask=move, other=0.0)
    tl.store(hidden_out_ptr + b * s_ob + offs_s[:, None] * s_on + offs_d[None, :], values, mask=move)
