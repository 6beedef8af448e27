"""The fast path (``acc.modeling.fast``) against the reference ACC model: plans, semantics, padding, graphs."""

from __future__ import annotations

import pytest
import torch

from acc.modeling.fast import FastAccBert, FastAccRunner, make_plan, seq_bucket, to_fast
from acc.modeling.model import AccBertForSequenceClassification
from acc.profiles import BERT_BASE, ModelError, keep_counts, profile_for_speedup

RATIOS = (1.0, 0.7, 0.45, 0.25)


@pytest.fixture(scope="module")
def reference() -> AccBertForSequenceClassification:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=64, num_labels=2)  # fmt: skip
    return AccBertForSequenceClassification(BertForSequenceClassification(config).eval())


def _batch(lengths: list[int], n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(1, 100, (len(lengths), n), generator=torch.Generator().manual_seed(seed))
    mask = (torch.arange(n)[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


def _kept(output, layer: int, b: int) -> list[int]:
    return sorted(output.kept_positions[layer][b][output.kept_masks[layer][b] > 0].tolist())


def test_plan_slots_are_the_full_length_keep_counts() -> None:
    profile = profile_for_speedup(BERT_BASE, 3.0)
    plan = make_plan("fused", profile.keep_ratios, 12, 128)
    assert plan.slots == tuple(keep_counts(profile.keep_ratios, 128))
    assert plan.select_layers == tuple(range(1, 12))
    assert make_plan("dense", profile.keep_ratios, 12, 128).select_layers == ()
    # Without padding, a selection that keeps every slot is skipped; with padding a shorter sample may still drop.
    flat = (1.0, 0.999, 0.5)
    assert make_plan("fused", flat, 3, 8, padded=False).select_layers == (2,)
    assert make_plan("fused", flat, 3, 8).select_layers == (1, 2)
    assert seq_bucket(65, (64, 128)) == 128
    with pytest.raises(ModelError, match="largest sequence bucket"):
        seq_bucket(513, (128, 512))
    with pytest.raises(ModelError, match="unknown fast-path method"):
        make_plan("eager", None, 12, 128)
    with pytest.raises(ModelError, match="keep ratios"):
        make_plan("fused", (1.0, 0.5), 12, 128)


@pytest.mark.parametrize(("method", "backend"), [("naive", "torch"), ("fused", "torch"), ("fused", "triton")])
def test_fast_path_matches_reference_model(reference, method: str, backend: str, triton_cpu_if: None) -> None:
    if backend == "triton":
        triton_cpu_if()
    ids, mask = _batch([20, 13, 5], 20)
    with torch.no_grad():
        expected = reference(ids, mask, keep_ratios=RATIOS)
    runner = FastAccRunner(FastAccBert(reference, kernel_backend=backend), method, seq_buckets=(24,))
    got = runner(ids, mask, None, RATIOS)
    torch.testing.assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)
    for layer in range(4):
        assert all(_kept(got, layer, b) == _kept(expected, layer, b) for b in range(3))


def test_padding_and_batch_do_not_change_a_sample(reference) -> None:
    ids, mask = _batch([16, 9], 16, seed=1)
    runner = FastAccRunner(FastAccBert(reference, kernel_backend="torch"), "fused", seq_buckets=(9, 16, 32))
    together = runner(ids, mask, None, RATIOS)  # bucket 16, padded (sample 1 is shorter)
    alone = runner(ids[1:, :9], mask[1:, :9], None, RATIOS)  # bucket 9, no padding: the unpadded plan
    wide = runner(
        torch.nn.functional.pad(ids, (0, 10)), torch.nn.functional.pad(mask, (0, 10)), None, RATIOS
    )  # bucket 32
    torch.testing.assert_close(together.logits[1], alone.logits[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together.logits, wide.logits, atol=1e-5, rtol=1e-5)
    assert all(_kept(together, layer, 1) == _kept(alone, layer, 0) == _kept(wide, layer, 1) for layer in range(4))


def test_lse_from_triton_kernel_equals_lse_from_attention(reference, triton_cpu_if) -> None:
    triton_cpu_if()
    ids, mask = _batch([12, 7], 12, seed=2)
    outputs = []
    for source in ("sdpa", "kernel"):
        runner = FastAccRunner(
            FastAccBert(reference, lse_source=source, kernel_backend="triton"), "fused", seq_buckets=(12,)
        )
        outputs.append(runner(ids, mask, None, RATIOS))
    torch.testing.assert_close(outputs[0].logits, outputs[1].logits, atol=1e-6, rtol=1e-6)


def test_dense_runner_is_the_plain_model(reference) -> None:
    ids, mask = _batch([10, 6], 10, seed=3)
    with torch.no_grad():
        expected = reference.hf(input_ids=ids, attention_mask=mask).logits
    got = FastAccRunner(to_fast(reference, torch.float32), seq_buckets=(16,))(ids, mask)
    torch.testing.assert_close(got.logits, expected, atol=1e-5, rtol=1e-5)


def test_not_a_bert_classifier_fails_with_one_line() -> None:
    with pytest.raises(ModelError, match="not a BERT sequence classifier"):
        FastAccBert(torch.nn.Linear(2, 2))


@pytest.mark.gpu
def test_cuda_graph_replay_matches_reference(reference, cuda_triton) -> None:
    model = reference.to("cuda")
    ids, mask = _batch([20, 13, 5], 20, seed=4)
    with torch.no_grad():
        expected = model(ids.cuda(), mask.cuda(), keep_ratios=RATIOS)
    try:
        runner = FastAccRunner(to_fast(model, torch.float32, "cuda"), "fused", seq_buckets=(32,))
        for _ in range(2):  # the second call replays the captured graph
            got = runner(ids, mask, None, RATIOS)
            torch.testing.assert_close(got.logits, expected.logits, atol=1e-4, rtol=1e-4)
            assert all(_kept(got, layer, b) == _kept(expected, layer, b) for layer in range(4) for b in range(3))
    finally:
        model.to("cpu")


def test_residual_biases_fold_into_layer_norms_exactly() -> None:
    """Non-zero biases and weights large enough to matter (a fresh BERT has zero biases and near-constant logits):
    the folded addmm pass is the reference model, and the source model is left untouched."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(1)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=64, num_labels=2, initializer_range=0.2)  # fmt: skip
    model = AccBertForSequenceClassification(BertForSequenceClassification(config).eval())
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.copy_(0.5 * torch.randn(param.shape, generator=g))
    before = {name: p.clone() for name, p in model.named_parameters()}
    fast = to_fast(model, torch.float32, kernel_backend="torch")
    assert fast.residual_in_gemm
    ids, mask = _batch([20, 13, 5], 20, seed=3)
    for method in ("dense", "fused"):
        plan = make_plan(method, RATIOS, 4, 20)
        with torch.no_grad():
            expected = model(ids, mask, keep_ratios=RATIOS if method == "fused" else None)
            got = fast(ids, mask, None, plan)
        assert expected.logits.std(dim=0).min() > 1e-2  # the logits really depend on the input
        torch.testing.assert_close(got.logits, expected.logits, atol=1e-5, rtol=1e-5)
    assert all(torch.equal(before[name], p) for name, p in model.named_parameters())
