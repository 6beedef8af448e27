"""``OrtBackend``'s data paths (IO binding, bucketed fixed buffers, the keep-counts graph, the CUDA-graph guard) and
the runtime's precision choice. Every path runs here on the CPU EP; only the CUDA-graph capture itself needs a GPU."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from acc.profiles import BundleError, DataError
from acc.runtime import OrtBackend, Runtime, read_manifest
from acc.runtime.buckets import Buckets, pad_feeds, unpad
from acc.runtime.precision import available_precisions, resolve_precision, variant_file
from acc.runtime.session import BackendError, _check_cuda_graph


def _feeds(batch: int, seq: int, seed: int = 0, ratios: list[float] | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, seq + 1, size=batch)
    lengths[0] = seq
    mask = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
    ids = rng.integers(1000, 30000, size=(batch, seq)).astype(np.int64) * mask
    ids[:, 0] = 101
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    if ratios is not None:
        feeds["keep_ratios"] = np.asarray(ratios, dtype=np.float32)
    return feeds


def _graph(bundle: Path, name: str) -> Path:
    return bundle / "graphs" / f"{name}.onnx"


def test_io_binding_on_cpu_returns_what_run_returns(tiny_bundle: Path) -> None:
    graph = _graph(tiny_bundle, "s1.5")
    plain, bound = OrtBackend(graph, threads=1), OrtBackend(graph, threads=1, io_binding=True)
    assert not plain.io_binding and bound.io_binding and bound.output_names == plain.output_names
    for batch, seq in ((1, 1), (3, 37)):
        feeds = _feeds(batch, seq)
        expected, got = plain.infer(feeds), bound.infer(feeds)
        assert list(got) == list(expected)  # every output, kept_index of data-dependent width included
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])
    only_logits = OrtBackend(graph, threads=1, io_binding=True, outputs=("logits",))
    assert list(only_logits.infer(_feeds(2, 9))) == ["logits"]
    with pytest.raises(BackendError, match="no output"):
        OrtBackend(graph, threads=1, outputs=("nope",))


def test_buckets_pad_to_the_smallest_shape_and_unpad() -> None:
    buckets = Buckets((1, 4, 8), (16, 64))
    assert (
        buckets.shape_for(1, 1) == (1, 16)
        and buckets.shape_for(3, 17) == (4, 64)
        and buckets.shape_for(8, 64) == (8, 64)
    )
    with pytest.raises(DataError, match="exceeds the largest bucket") as info:
        buckets.shape_for(9, 10)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="ascending"):
        Buckets((4, 2), (16,))
    feeds = _feeds(3, 5, ratios=[1.0, 0.5])
    padded = pad_feeds(feeds, 4, 16)
    assert padded["input_ids"].shape == (4, 16) and padded["keep_ratios"] is feeds["keep_ratios"]
    np.testing.assert_array_equal(padded["attention_mask"][3, :5], feeds["attention_mask"][0])  # copy of row 0
    assert padded["attention_mask"][:, 5:].sum() == 0  # added columns are padding
    assert unpad({"logits": np.zeros((4, 2))}, 3)["logits"].shape == (3, 2)


@pytest.mark.parametrize("graph", ["dense", "s1.5"])
def test_bucketed_fixed_buffers_match_a_plain_run(tiny_bundle: Path, graph: str) -> None:
    path = _graph(tiny_bundle, graph)
    plain = OrtBackend(path, threads=1)
    bucketed = OrtBackend(path, threads=1, buckets=Buckets((1, 4), (16, 64)))
    assert bucketed.output_names == ("logits",)
    for batch, seq, seed in ((3, 37, 0), (1, 5, 1), (3, 40, 2), (4, 64, 3)):
        feeds = _feeds(batch, seq, seed)
        got = bucketed.infer(feeds)["logits"]
        assert got.shape == (batch, 2)
        np.testing.assert_allclose(got, plain.infer(feeds)["logits"], rtol=0, atol=1e-5)
    assert bucketed._buckets.captured() == [(1, 16), (4, 64)]


def _keep_counts_graph(bundle: Path, folder: Path) -> Path:
    from acc.exporter.engines.keep_counts import KeepCountsOnnx, save_beside

    for name in ("adjustable.onnx", "weights.bin"):
        shutil.copy(_graph(bundle, "adjustable").parent / name, folder / name)
    return save_beside(KeepCountsOnnx(folder / "adjustable.onnx")(), "adjustable.counts.onnx")


def test_keep_counts_graph_computes_its_widths_and_matches_the_ratios_graph(tiny_bundle: Path, tmp_path: Path) -> None:
    counts_graph = _keep_counts_graph(tiny_bundle, tmp_path)
    ratios_backend = OrtBackend(_graph(tiny_bundle, "adjustable"), threads=1)
    counts_backend = OrtBackend(counts_graph, threads=1)
    bucketed = OrtBackend(counts_graph, threads=1, buckets=Buckets((4,), (64,)))
    assert "keep_counts" in counts_backend.input_names
    for ratios in ([1.0, 0.5], [1.0, 0.05], [1.0, 1.0]):
        feeds = _feeds(3, 37, ratios=ratios)
        expected = ratios_backend.infer(feeds)
        got = counts_backend.infer(feeds)  # keep_counts computed on the host from keep_ratios
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])
        # bucket widths (those of length 64) are wider than needed: extra slots are masked, logits unchanged
        np.testing.assert_allclose(bucketed.infer(feeds)["logits"], expected["logits"], rtol=0, atol=1e-5)
    with pytest.raises(DataError, match="needs keep_ratios and attention_mask"):
        counts_backend.infer({k: v for k, v in _feeds(1, 4).items() if k != "attention_mask"})


def test_cuda_graphs_are_refused_where_a_replay_would_be_wrong(tiny_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="needs device='cuda'"):
        OrtBackend(_graph(tiny_bundle, "dense"), cuda_graph=True)
    # the adjustable graph's widths follow its keep_ratios input: a replay with other ratios would be wrong
    with pytest.raises(BackendError, match=r"computes 2 TopK width\(s\) from input values") as info:
        _check_cuda_graph(_graph(tiny_bundle, "adjustable"), "cuda")
    assert "\n" not in str(info.value)
    _check_cuda_graph(_graph(tiny_bundle, "dense"), "cuda")  # no selection: shapes follow the bucket
    _check_cuda_graph(_graph(tiny_bundle, "s1.5"), "cuda")  # static widths: from the padded length only
    _check_cuda_graph(_keep_counts_graph(tiny_bundle, tmp_path), "cuda")  # widths fed per bucket


def test_precision_choice(tiny_bundle: Path, tiny_fp16_bundle: Path) -> None:
    plain, fp16 = read_manifest(tiny_bundle, verify=False), read_manifest(tiny_fp16_bundle, verify=False)
    assert available_precisions(plain) == ["fp32"]
    assert available_precisions(fp16) == ["fp32", "fp16", "fp16-all"]
    # auto follows the bundle's default per device: fp16 on CUDA (gated at export, TokenSelect body v2), fp32 on CPU
    assert resolve_precision(fp16, "cuda") == "fp16" and resolve_precision(fp16, "cpu") == "fp32"
    # ... but not for a bundle whose TokenSelect still gathers with GatherElements (NaN rows on ORT CUDA fp16) ...
    before_fix = dataclasses.replace(fp16, graph_format={"opset": 18})
    assert resolve_precision(before_fix, "cuda") == "fp32"
    # ... nor when the fp16 graphs missed their export-time bounds (written with --allow-mismatch)
    failed = dataclasses.replace(fp16, precisions={**fp16.precisions, "validation": {"fp16": {"failures": ["s1.5"]}}})
    assert resolve_precision(failed, "cuda") == "fp32"
    assert resolve_precision(fp16, "cuda", "fp16") == "fp16"
    assert resolve_precision(plain, "cuda") == "fp32"  # nothing to pick: fp32 on CUDA, as before
    assert resolve_precision(fp16, "cpu", "fp16-all") == "fp16-all"
    with pytest.raises(BundleError, match="has no fp16 graphs") as info:
        resolve_precision(plain, "cuda", "fp16")
    assert "acc-export --precision fp32,fp16" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(BundleError, match="has no int8 graphs"):
        resolve_precision(fp16, "cpu", "int8")
    with pytest.raises(BackendError, match="unknown precision"):
        resolve_precision(fp16, "cpu", "int4")
    assert variant_file(Path("b/graphs/s1.5.onnx"), "fp16") == Path("b/graphs/s1.5.fp16.onnx")


def test_runtime_runs_fp16_graphs_on_cpu_when_asked(tiny_fp16_bundle: Path) -> None:
    texts = ["a gorgeous , witty , seductive movie .", "flat and boring .", "ok"]
    fp32 = Runtime.load(tiny_fp16_bundle, device="cpu", threads=1)
    fp16 = Runtime.load(tiny_fp16_bundle, device="cpu", threads=1, precision="fp16", verify=False)
    assert (fp32.precision, fp16.precision) == ("fp32", "fp16")
    for speedup in (1.0, 1.5, 1.8):  # dense graph, s1.5 graph, adjustable graph
        a, b = fp32.predict(texts, speedup=speedup), fp16.predict(texts, speedup=speedup)
        assert a.profile == b.profile and a.label_ids == b.label_ids
        np.testing.assert_allclose(b.logits, a.logits, rtol=0, atol=5e-3)
    backend = fp16._sessions.get(tiny_fp16_bundle / "graphs" / "s1.5.onnx")
    assert backend.graph_path.name == "s1.5.fp16.onnx"


def _cuda_available() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_available(), reason="needs onnxruntime-gpu with the CUDA EP")
def test_cuda_picks_fp16_and_agrees_with_cpu(tiny_fp16_bundle: Path) -> None:
    texts = ["a gorgeous , witty , seductive movie .", "flat and boring ."]
    cuda = Runtime.load(tiny_fp16_bundle, device="cuda")
    assert cuda.precision == "fp16"
    cpu = Runtime.load(tiny_fp16_bundle, device="cpu")
    for speedup in (1.0, 1.5):
        np.testing.assert_allclose(cuda.predict(texts, speedup=speedup).logits, cpu.predict(texts, speedup=speedup).logits,
                                   rtol=0, atol=5e-2)  # fmt: skip
    bucketed = OrtBackend(tiny_fp16_bundle / "graphs" / "dense.fp16.onnx", device="cuda", cuda_graph=True)
    feeds = _feeds(3, 20)
    first, second = bucketed.infer(feeds)["logits"], bucketed.infer(feeds)["logits"]  # capture, then replay
    np.testing.assert_allclose(second, first, rtol=0, atol=1e-3)
