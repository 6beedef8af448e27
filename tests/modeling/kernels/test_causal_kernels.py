"""Causal (GPT-2) fused score: Triton kernels vs PyTorch references, and the fused prefill vs the eager one.

On CPU the kernels run through Triton's interpreter (this folder's conftest), at tiny shapes.
"""

from __future__ import annotations

import pytest
import torch

from acc.modeling.causal import AccGPT2LMHeadModel, causal_acc_score
from acc.modeling.causal.fused import valid_prefix
from acc.modeling.fast.attention import attention_with_lse
from acc.modeling.kernels import (
    causal_acc_score_from_qk,
    causal_column_sums_reference,
    causal_row_lse,
    causal_row_lse_reference,
    column_sums,
    finish_causal_score,
    select_fused,
)
from acc.profiles import ModelError, profile_for_speedup


def _qk(batch: int, heads: int, n: int, dim: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(batch, heads, n, dim, generator=g) for _ in range(2))
    mask = torch.ones(batch, n, dtype=torch.long)
    mask[1, : n // 3] = 0  # left padding
    mask[2, n - n // 4 :] = 0  # right padding (fillers after a selection look like this)
    return q, k, mask


@pytest.fixture(scope="module")
def gpt2() -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=4, n_embd=32, n_head=2, n_positions=128, vocab_size=97, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config).eval()


def test_causal_lse_and_column_sum_kernels_match_references(triton_cpu: None) -> None:
    q, k, mask = _qk(3, 2, 70, 16)  # 70 > one 64-wide tile: diagonal and off-diagonal blocks
    lse = causal_row_lse(q, k, mask, 0.25, backend="triton")
    lse_ref = causal_row_lse_reference(q, k, mask, 0.25)
    valid = (mask[:, None, :] > 0).expand_as(lse)
    torch.testing.assert_close(lse[valid], lse_ref[valid], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(lse).all()  # padded queries with no key to see stay finite (they are masked later)
    got = column_sums(q, k, lse_ref, mask, 0.25, backend="triton", causal=True)
    torch.testing.assert_close(got, causal_column_sums_reference(q, k, lse_ref, mask, 0.25), atol=1e-5, rtol=1e-5)


def test_finished_column_sums_are_the_models_causal_score() -> None:
    q, k, mask = _qk(3, 2, 21, 8, seed=1)
    partial = causal_column_sums_reference(q, k, causal_row_lse_reference(q, k, mask, 0.3), mask, 0.3)
    score = finish_causal_score(partial, mask)
    expected = causal_acc_score_from_qk(q, k, mask, 0.3)
    finite = torch.isfinite(expected)
    assert torch.equal(torch.isfinite(score), finite) and torch.equal(score[~finite], expected[~finite])
    torch.testing.assert_close(score[finite], expected[finite], atol=1e-6, rtol=1e-5)
    assert score[1, -1] == float("inf") and score[2, 21 - 21 // 4 - 1] == float("inf")  # the last valid slot
    # and the reference really is causal_acc_score of the eager probabilities (left padding: first queries see nothing)
    assert torch.equal(torch.isfinite(causal_acc_score(torch.rand(3, 2, 21, 21), mask)), finite)


def test_cpu_flash_lse_is_the_causal_lse() -> None:
    q, k, mask = _qk(3, 2, 19, 8, seed=2)
    mask[:] = 1
    _, lse = attention_with_lse(q, k, k, None, mask, 0.3, causal=True)
    torch.testing.assert_close(lse[:, :, :19], causal_row_lse_reference(q, k, mask, 0.3), atol=1e-5, rtol=1e-5)
    assert valid_prefix(torch.tensor([[1, 1, 0], [1, 0, 0]])) and not valid_prefix(torch.tensor([[0, 1, 1]]))


@pytest.mark.parametrize("lse_source", ["sdpa", "kernel"])
def test_fused_prefill_equals_eager_with_left_padding(triton_cpu: None, gpt2, lse_source: str) -> None:
    eager = AccGPT2LMHeadModel(gpt2, attention="eager")
    fused = AccGPT2LMHeadModel(gpt2, attention="fused", kernel_backend="triton", lse_source=lse_source)
    assert fused.fused_score_active("cpu")
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 97, (3, 40), generator=g)
    mask = torch.ones(3, 40, dtype=torch.long)
    mask[1, :15], mask[2, :33] = 0, 0
    ratios = profile_for_speedup(eager.shape, 1.8, reference_length=40).keep_ratios
    with torch.no_grad():
        a, b = eager.prefill(ids, mask, ratios), fused.prefill(ids, mask, ratios)
        torch.testing.assert_close(b.logits, a.logits, atol=1e-5, rtol=1e-5)
        assert [len(p[0]) for p in b.kept_positions] == [40, 26, 16, 11]  # slots per layer: elimination happened
        for pa, pb, m in zip(a.kept_positions, b.kept_positions, a.kept_masks):
            assert torch.equal(pa * m, pb * m)
        # decoding over the fused prefill's caches gives the eager caches' logits
        new = torch.randint(1, 97, (3, 2), generator=g)
        positions = a.next_positions[:, None] + torch.arange(2)[None, :]
        torch.testing.assert_close(fused.extend(b.cache, new, positions)[0], eager.extend(a.cache, new, positions)[0],
                                   atol=1e-5, rtol=1e-5)  # fmt: skip


def test_fused_falls_back_where_kernels_cannot_run(gpt2) -> None:
    fused = AccGPT2LMHeadModel(gpt2, attention="fused", kernel_backend="torch")
    assert not fused.fused_score_active("cpu")
    ids = torch.randint(1, 97, (2, 24), generator=torch.Generator().manual_seed(4))
    ratios = profile_for_speedup(fused.shape, 1.5, reference_length=24).keep_ratios
    with torch.no_grad():
        expected = AccGPT2LMHeadModel(gpt2, attention="eager").prefill(ids, None, ratios).logits
        torch.testing.assert_close(fused.prefill(ids, None, ratios).logits, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ModelError, match="unknown lse source"):
        attention_with_lse(torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4), None,
                           torch.ones(1, 2), 1.0, lse_source="flash", causal=True)  # fmt: skip


@pytest.mark.parametrize(("n", "ratio", "slots"), [(21, 0.5, 11), (70, 0.3, 21), (9, 0.01, 1)])
def test_causal_select_kernel_is_finish_then_select_static(triton_cpu: None, n: int, ratio: float, slots: int) -> None:
    q, k, mask = _qk(3, 2, n, 8, seed=n)
    partial = causal_column_sums_reference(q, k, causal_row_lse_reference(q, k, mask, 0.3), mask, 0.3)
    hidden = torch.randn(3, n, 5, generator=torch.Generator().manual_seed(n))
    positions = torch.arange(n)[None, :].expand(3, n)
    args = (hidden, mask, positions, partial, mask.sum(1), ratio, slots)
    chosen, score = select_fused(*args, return_score=True, backend="triton", causal=True)
    expected, score_ref = select_fused(*args, return_score=True, backend="torch", causal=True)
    assert torch.equal(score, score_ref)  # bit-identical: same sums, integer counts, IEEE division
    assert torch.equal(chosen.mask, expected.mask)
    keep = chosen.mask > 0
    assert torch.equal(chosen.positions[keep], expected.positions[keep])
    assert torch.equal(chosen.hidden[keep], expected.hidden[keep])
    last = [int(torch.nonzero(mask[b]).max()) for b in range(3)]
    assert all(last[b] in chosen.positions[b][keep[b]].tolist() for b in range(3))  # the last token always kept


@pytest.mark.filterwarnings("ignore:`past_key_values` is deprecated:FutureWarning")  # the HF baseline's decode
def test_latency_harness_times_fused_rows_beside_eager(triton_cpu: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/device/causal_latency.py at tiny shapes: fused rows present, decode capped inside n_positions."""
    import importlib.util
    from pathlib import Path

    from transformers import GPT2Config

    path = Path(__file__).resolve().parents[3] / "benchmarks" / "device" / "causal_latency.py"
    spec = importlib.util.spec_from_file_location("causal_latency_under_test", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=26, vocab_size=97)
    logged: list[str] = []
    rows = bench.measure(config, (24,), (1,), (1.5,), 1, 8, "cpu", torch.float32, logged.append)
    assert [r["variant"] for r in rows] == ["hf-dense", "acc-dense", "s1.5", "fused-dense", "fused-s1.5"]
    assert {r["decode_steps"] for r in rows} == {1} and any("decode capped at 1" in line for line in logged)
    fused = {r["variant"]: r for r in rows if r["attention"] == "fused"}
    assert fused["fused-s1.5"]["cache_lengths"] == next(r for r in rows if r["variant"] == "s1.5")["cache_lengths"]
    assert all(r["ttft_speedup_vs_unfused"] > 0 for r in fused.values())


@pytest.mark.gpu
@pytest.mark.parametrize("lse_source", ["sdpa", "kernel"])
def test_fused_prefill_on_gpu_equals_eager(cuda_triton: None, lse_source: str) -> None:
    """GPT-2-small shapes (fp32, 4 layers), left padding: same kept positions and logits as the eager prefill."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_layer=4, vocab_size=1000)).cuda().eval()
    eager = AccGPT2LMHeadModel(hf, attention="eager")
    fused = AccGPT2LMHeadModel(hf, attention="fused", lse_source=lse_source)
    ids = torch.randint(1, 1000, (4, 300), device="cuda")
    mask = torch.ones_like(ids)
    mask[1, :100], mask[3, :250] = 0, 0
    ratios = profile_for_speedup(eager.shape, 2.5, reference_length=300).keep_ratios
    for attention_mask in (None, mask):
        with torch.no_grad():
            a, b = eager.prefill(ids, attention_mask, ratios), fused.prefill(ids, attention_mask, ratios)
        for pa, pb, m in zip(a.kept_positions, b.kept_positions, a.kept_masks):
            assert torch.equal(pa[m > 0], pb[:, : pa.shape[1]][m > 0])
        torch.testing.assert_close(b.logits, a.logits, atol=1e-3, rtol=1e-3)
