"""Triton kernels vs the PyTorch references: on CPU through Triton's interpreter (tiny shapes), on GPU at BERT shapes."""

from __future__ import annotations

import pytest
import torch

from acc.modeling.kernels import (
    column_sums,
    column_sums_reference,
    resolve_backend,
    row_lse,
    row_lse_reference,
    select_fused,
    select_static,
)
from acc.modeling.kernels.verify import check_kernels, random_mask
from acc.profiles import ModelError


def _inputs(batch: int, heads: int, n: int, dim: int, seed: int = 0, padded: bool = True):
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(batch, heads, n, dim, generator=g) for _ in range(2))
    return q, k, random_mask(batch, n, padded, g)


def test_row_lse_kernel_matches_reference(triton_cpu: None) -> None:
    q, k, mask = _inputs(2, 2, 37, 16)
    got = row_lse(q, k, mask, 0.25, backend="triton")
    torch.testing.assert_close(got, row_lse_reference(q, k, mask, 0.25), atol=1e-5, rtol=1e-5)


def test_column_sums_kernel_matches_reference_across_tiles(triton_cpu: None) -> None:
    q, k, mask = _inputs(2, 2, 70, 16, seed=1)  # 70 > one 64-wide tile in both directions
    lse = row_lse_reference(q, k, mask, 0.25)
    got = column_sums(q, k, lse, mask, 0.25, backend="triton")
    torch.testing.assert_close(got, column_sums_reference(q, k, lse, mask, 0.25), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("n", "padded", "lse_source", "dtype", "ratio"),
    [(24, True, "sdpa", torch.float32, 0.5), (19, False, "kernel", torch.float32, 0.3),
     (16, True, "kernel", torch.float16, 0.01)],  # ratio 0.01: one slot, only [CLS]
)  # fmt: skip
def test_fused_chain_matches_references(triton_cpu: None, n: int, padded: bool, lse_source: str, dtype, ratio) -> None:
    check = check_kernels(3, 2, n, 16, dtype, "cpu", padded, lse_source, ratio=ratio, width=24)
    assert check.failures() == [], check


def test_select_keeps_cls_order_and_never_padding(triton_cpu: None) -> None:
    batch, heads, n, width = 2, 2, 12, 8
    partial = torch.rand(batch, heads, n)
    partial[:, :, 5] = 100.0  # the best column
    partial[1, :, 9:] = 1000.0  # huge, but padding
    mask = torch.ones(batch, n, dtype=torch.long)
    mask[1, 9:] = 0
    hidden = torch.arange(batch * n * width, dtype=torch.float32).view(batch, n, width)
    positions = torch.arange(n)[None, :].expand(batch, n)
    chosen, score = select_fused(hidden, mask, positions, partial, mask.sum(1), 0.25, slots=6, return_score=True,
                                 backend="triton")  # fmt: skip
    # k = ceil(0.25 * n_valid): 3 of 12, 3 of 9; [CLS] pinned, column 5 next, kept in original order.
    assert chosen.mask.tolist() == [[1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0]]
    kept = [chosen.positions[b][chosen.mask[b] > 0].tolist() for b in range(batch)]
    assert all(p[0] == 0 and 5 in p and p == sorted(p) for p in kept)
    assert not any(p >= 9 for p in kept[1])
    assert torch.equal(chosen.hidden[1, :3], hidden[1, kept[1]])
    assert score[1, 9:].eq(float("-inf")).all() and score[:, 0].eq(float("inf")).all()


def test_select_ties_go_to_the_lower_position(triton_cpu: None) -> None:
    partial = torch.ones(1, 2, 10)
    mask = torch.ones(1, 10, dtype=torch.long)
    positions = torch.arange(10)[None, :]
    chosen, _ = select_fused(torch.randn(1, 10, 4), mask, positions, partial, mask.sum(1), 0.4, slots=4,
                             backend="triton")  # fmt: skip
    assert chosen.positions.tolist() == [[0, 1, 2, 3]]


def test_select_torch_backend_is_select_static() -> None:
    q, k, mask = _inputs(2, 2, 10, 8, seed=4)
    partial = column_sums_reference(q, k, row_lse_reference(q, k, mask, 0.3), mask, 0.3)
    hidden = torch.randn(2, 10, 4)
    positions = torch.arange(10)[None, :].expand(2, 10)
    chosen, score = select_fused(
        hidden, mask, positions, partial, mask.sum(1), 0.5, 5, return_score=True, backend="torch"
    )
    expected = select_static(hidden, mask, positions, score, mask.sum(1), 0.5, 5)
    assert all(torch.equal(a, b) for a, b in zip(chosen, expected))


def test_bad_slots_and_backend_fail_with_one_line(triton_cpu: None) -> None:
    mask = torch.ones(1, 4, dtype=torch.long)
    with pytest.raises(ModelError, match="slots must lie in"):
        select_fused(torch.randn(1, 4, 2), mask, torch.arange(4)[None], torch.rand(1, 1, 4), mask.sum(1), 0.5, 5,
                     backend="triton")  # fmt: skip
    with pytest.raises(ModelError, match="unknown kernel backend"):
        resolve_backend("cuda-graphs", "cpu")


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("batch", "n", "head_dim", "dtype", "padded", "lse_source"),
    [(32, 512, 64, torch.float16, False, "sdpa"), (32, 512, 64, torch.float16, True, "sdpa"),
     (8, 128, 64, torch.float16, True, "kernel"), (4, 300, 64, torch.float32, True, "sdpa"),
     (4, 77, 32, torch.float16, True, "sdpa")],
)  # fmt: skip
def test_kernels_on_gpu_match_references(cuda_triton: None, batch, n, head_dim, dtype, padded, lse_source) -> None:
    check = check_kernels(batch, 12, n, head_dim, dtype, "cuda", padded, lse_source)
    assert check.failures() == [], check
