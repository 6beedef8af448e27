"""Kernel-vs-reference measurements, shared by the tests and the device benchmark (which has no pytest to rely on).

``check_kernels`` runs the whole fused chain on random inputs (attention log-sum-exp, column sums, selection) and
measures it against the PyTorch references; it returns numbers, and ``KernelCheck.failures`` applies the
tolerances, so a caller can print everything before deciding.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch

from acc.modeling.select import Selection
from acc.profiles import keep_count

from . import reference
from .ops import column_sums, row_lse, select_fused

# Scores are fp32 sums of probabilities from identical fp16/fp32 q and k; only summation order differs.
SCORE_RTOL = 1e-3
LSE_ATOL = 1e-3
KEPT_AGREEMENT_MIN = 0.99  # samples whose kernel kept set equals the reference's (near-ties may flip)


@dataclass(frozen=True)
class KernelCheck:
    """One shape's kernel-vs-reference numbers."""

    batch: int
    heads: int
    seq_len: int
    head_dim: int
    dtype: str
    device: str
    padded: bool
    lse_source: str
    lse_max_abs_err: float  # attention's (or the lse kernel's) log-sum-exp vs logsumexp of fp32 logits
    score_max_rel_err: float  # max |kernel − reference| over finite scores / max |reference finite score|
    score_inf_match: bool  # −inf on padding and +inf on [CLS] exactly where the reference has them
    kept_set_agreement: float  # fraction of samples whose kept set equals the reference pipeline's
    select_exact: bool  # given the kernel's own score, kernel selection == select_ranked in every slot
    seconds: float

    def failures(self) -> list[str]:
        """What is out of tolerance, one short phrase each (empty: the check passed)."""
        problems = []
        if not self.lse_max_abs_err <= LSE_ATOL:
            problems.append(f"lse err {self.lse_max_abs_err:.1e} > {LSE_ATOL:g}")
        if not self.score_max_rel_err <= SCORE_RTOL:
            problems.append(f"score rel err {self.score_max_rel_err:.1e} > {SCORE_RTOL:g}")
        if not self.score_inf_match:
            problems.append("±inf pattern differs")
        if not self.kept_set_agreement >= KEPT_AGREEMENT_MIN:
            problems.append(f"kept-set agreement {self.kept_set_agreement:.3f} < {KEPT_AGREEMENT_MIN}")
        if not self.select_exact:
            problems.append("selection differs from select_ranked on the same score")
        return problems

    def to_dict(self) -> dict:
        return {**asdict(self), "failures": self.failures()}


def random_mask(batch: int, seq_len: int, padded: bool, generator: torch.Generator) -> torch.Tensor:
    """[B, N] int64; with padding, sample 0 is full and the others have random lengths in [N/4, N]."""
    mask = torch.ones(batch, seq_len, dtype=torch.long)
    if padded:
        lengths = torch.randint(max(1, seq_len // 4), seq_len + 1, (batch,), generator=generator)
        lengths[0] = seq_len
        mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
    return mask


def check_kernels(
    batch: int,
    heads: int,
    seq_len: int,
    head_dim: int,
    dtype: torch.dtype = torch.float16,
    device: str = "cuda",
    padded: bool = True,
    lse_source: str = "sdpa",
    ratio: float = 0.5,
    width: int = 64,
    seed: int = 0,
) -> KernelCheck:
    """Fused chain (lse from ``lse_source``, Triton column sums and selection) vs the PyTorch references."""
    from acc.modeling.fast.attention import attention_with_lse, key_bias

    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, seq_len, head_dim, generator=generator).to(device, dtype) for _ in range(3))
    mask = random_mask(batch, seq_len, padded, generator).to(device)
    hidden = torch.randn(batch, seq_len, width, generator=generator).to(device, dtype)
    positions = torch.arange(seq_len, device=device)[None, :].expand(batch, seq_len)
    n_valid = mask.sum(dim=1)
    scale = head_dim**-0.5
    bias = key_bias(mask, dtype) if padded else None
    if lse_source == "kernel":
        lse = row_lse(q, k, mask, scale, backend="triton")
    else:
        lse = attention_with_lse(q, k, v, bias, mask, scale, "sdpa")[1]
    lse_ref = reference.row_lse_reference(q, k, mask, scale)
    lse_err = float((lse[:, :, :seq_len].float() - lse_ref).abs().max())
    partial = column_sums(q, k, lse, mask, scale, backend="triton")
    slots = keep_count(ratio, seq_len, seq_len)
    chosen, score = select_fused(hidden, mask, positions, partial, n_valid, ratio, slots, return_score=True,
                                 backend="triton")  # fmt: skip
    score_ref = reference.acc_score_from_qk(q, k, mask, scale)
    finite = torch.isfinite(score_ref)
    peak = float(score_ref[finite].abs().max())
    rel_err = float((score - score_ref)[finite].abs().max()) / peak if peak > 0 else math.inf
    inf_match = bool(torch.equal(torch.isfinite(score), finite) and torch.equal(score[~finite], score_ref[~finite]))
    ref_pipeline = reference.select_static(hidden, mask, positions, score_ref, n_valid, ratio, slots)
    same_score = reference.select_ranked(hidden, mask, positions, score, n_valid, ratio, slots)
    agree = sum(_kept(chosen, b) == _kept(ref_pipeline, b) for b in range(batch)) / batch
    exact = all(torch.equal(a, b) for a, b in zip(chosen, same_score))  # every slot, fillers included
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    dtype_name = str(dtype).replace("torch.", "")
    return KernelCheck(batch, heads, seq_len, head_dim, dtype_name, str(device), padded, lse_source, lse_err, rel_err,
                       inf_match, agree, exact, time.perf_counter() - started)  # fmt: skip


def _kept(selection: Selection, b: int) -> list[int]:
    """Sample b's kept original positions, in slot order."""
    return selection.positions[b][selection.mask[b] > 0].tolist()
