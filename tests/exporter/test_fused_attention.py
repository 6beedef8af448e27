"""exporter/fused_attention.py: the fused export form (ORT MultiHeadAttention + ai.acc::AccScore) on tiny4.

The fused graphs must compute what the eager graphs compute (same logits, same kept word-vectors) on ONNX Runtime,
with no attention probabilities in the main graph; their fp16 variants keep the ``AccScore`` and ``TokenSelect``
calls; and the bundle records the form, while TensorRT engines are refused for it with one line.
"""

from __future__ import annotations

import collections
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from tiny_graphs import (
    GOLDEN_ATOL,
    flat_profile,
    kept_index,
    ort_session,
    random_feeds,
    run_profiled,
    token_select_dtypes,
    torch_reference,
)

from acc.exporter import ExportOptions, GraphSpec, config_for, export_graph, main_export
from acc.exporter.acc_score import count_acc_score
from acc.exporter.fused_attention import check_attention_form
from acc.exporter.precision import write_variant
from acc.profiles import ExportError


@pytest.fixture(scope="module")
def fused(tiny4_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from acc.modeling.checkpoint import load_model

    model = load_model(tiny4_checkpoint).model
    config = config_for(model.config)
    profile = flat_profile(model.shape)
    folder = tmp_path_factory.mktemp("fused")
    fixed = export_graph(model, GraphSpec(profile.name, profile), folder / "flat.onnx", config, attention="fused")
    adjustable = export_graph(
        model, GraphSpec("adjustable", None), folder / "adjustable.onnx", config, attention="fused"
    )
    return {"model": model, "profile": profile, "fixed": fixed, "adjustable": adjustable}


def _ops(path: Path) -> collections.Counter:
    proto = onnx.load(str(path), load_external_data=False)
    return collections.Counter(f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in proto.graph.node)


def test_fused_graph_has_fused_attention_and_no_probabilities(fused: dict) -> None:
    ops = _ops(fused["fixed"].path)
    # Layers scored for a selection keep Q and K apart (AccScore reads them); the others run one packed Attention.
    scored = len(fused["fixed"].select_layers)
    assert ops["com.microsoft::MultiHeadAttention"] == scored == 2
    assert ops["com.microsoft::Attention"] == 4 - scored
    assert ops["ai.acc::AccScore"] == ops["ai.acc::TokenSelect"] == scored
    assert ops["Softmax"] == 0  # nothing n×n in the main graph: the probabilities live inside the two ops
    assert ops["Split"] == scored  # Q, K, V split by static widths: no per-layer shape arithmetic (Shape/Div/Slice)
    # Packed QKV: per layer one GEMM for Q, K and V (split after the bias), then output, intermediate, output;
    # an Attention node holds its layer's QKV GEMM (three separate projections would add 2 a layer)
    assert ops["MatMul"] == 4 * 4 - (4 - scored)
    # ORT's layer fusions: both residual layer norms and the GELU of every layer are one kernel each
    assert ops["com.microsoft::SkipLayerNormalization"] == 2 * 4 and ops["com.microsoft::BiasGelu"] == 4
    assert ops["LayerNormalization"] == 1 and ops["Erf"] == 0  # the embeddings' layer norm is not residual
    onnx.checker.check_model(str(fused["fixed"].path), full_check=True)
    adjustable = _ops(fused["adjustable"].path)
    assert adjustable["ai.acc::AccScore"] == adjustable["ai.acc::TokenSelect"] == 3


@pytest.mark.parametrize(("batch", "length", "seed"), [(1, 9, 0), (4, 23, 1), (3, 64, 2)])
def test_fused_graph_matches_pytorch_and_keeps_the_same_word_vectors(
    fused: dict, batch: int, length: int, seed: int
) -> None:
    feeds = random_feeds(batch, length, seed=seed)
    ratios = list(fused["profile"].keep_ratios)
    reference = torch_reference(fused["model"], feeds, ratios)
    for graph, extra in ((fused["fixed"], {}), (fused["adjustable"], {"keep_ratios": np.asarray(ratios, np.float32)})):
        outputs = dict(
            zip(graph.output_names, ort_session(graph.path).run(list(graph.output_names), {**feeds, **extra}))
        )
        np.testing.assert_allclose(outputs["logits"], reference.logits.numpy(), atol=GOLDEN_ATOL, rtol=0)
        for layer in graph.select_layers:
            np.testing.assert_array_equal(outputs[f"kept_index_{layer + 1}"], kept_index(reference, layer))


@pytest.mark.parametrize("graph", ["fixed", "adjustable"])
def test_fp16_variant_of_the_fused_form_keeps_both_calls(
    fused: dict, graph: str, ops_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AccScore and TokenSelect stay calls in fp16 (their CUDA kernels must run): fp16 Q, K and hidden states go
    straight in, AccScore's fp32 score straight into TokenSelect. The library's kernels (CPU TokenSelect switched
    on) give the kept sets and logits of ONNX Runtime's inlined bodies."""
    exported = fused[graph]
    variant = write_variant(exported.path, "fp16")
    proto = onnx.load(str(variant.path))
    assert sorted(f.name for f in proto.functions) == ["AccScore", "TokenSelect"] == list(variant.calls)
    assert count_acc_score(proto) == len(exported.select_layers)
    producer = {out: node for node in proto.graph.node for out in node.output}
    types = {info.name: info.type.tensor_type.elem_type for info in proto.graph.value_info}
    for node in (n for n in proto.graph.node if n.op_type == "AccScore"):  # fp16 Q, K straight in: no fp32 copies
        assert [types.get(name) for name in node.input[:2]] == [onnx.TensorProto.FLOAT16] * 2, node.name
        assert all(producer[name].op_type != "Cast" for name in node.input[:2]), node.name
    selects = [n for n in proto.graph.node if n.op_type == "TokenSelect"]
    assert {producer[n.input[3]].op_type for n in selects} == {"AccScore"}  # no fp16 round trip of the score
    onnx.checker.check_model(proto, full_check=True)

    feeds = random_feeds(3, 20, seed=5)
    if exported.spec.adjustable:
        feeds["keep_ratios"] = np.asarray(fused["profile"].keep_ratios, np.float32)
    f16, f32 = np.dtype(np.float16), np.dtype(np.float32)
    assert token_select_dtypes(variant.path, feeds) == [(f16, f32, f16)] * len(exported.select_layers)
    body, body_ran = run_profiled(variant.path, feeds, tmp_path)
    monkeypatch.setenv("ACC_ORT_OPS_CPU_TOKENSELECT", "1")
    kernel, kernel_ran = run_profiled(variant.path, feeds, tmp_path, library=ops_library)
    assert {"AccScore", "TokenSelect"} <= kernel_ran and "TopK" not in kernel_ran and "TopK" in body_ran
    fp32 = ort_session(exported.path).run(None, feeds)
    for a, b, c in zip(kernel[1:], body[1:], fp32[1:]):
        np.testing.assert_array_equal(a, b)  # the kernels keep what the bodies keep ...
        np.testing.assert_array_equal(b, c)  # ... and what the fp32 graph keeps
    assert np.isfinite(body[0]).all()
    np.testing.assert_allclose(kernel[0], body[0], atol=1e-3, rtol=0)
    np.testing.assert_allclose(body[0], fp32[0], atol=5e-3, rtol=0)


def test_unknown_attention_form_is_one_clear_error() -> None:
    with pytest.raises(ExportError, match="unknown attention form 'flash'; pass one of eager, fused"):
        check_attention_form("flash")


def test_bundle_records_the_form_and_trt_engines_are_refused(
    tiny4_checkpoint: Path, sst2_dir: Path, tmp_path: Path
) -> None:
    options = ExportOptions(model=str(tiny4_checkpoint), speedups=(2.5,), output=tmp_path / "b", data_dir=sst2_dir,
                            max_examples=8, validate_grid="none", bench=False, progress=False, adjustable=False,
                            attention="fused")  # fmt: skip
    with pytest.raises(ExportError, match="TensorRT cannot parse the fused form"):
        main_export(replace(options, engine="trt"))
    assert not (tmp_path / "b").exists()
    result = main_export(options)
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["graph_format"]["attention"] == "fused"
    assert manifest["validation"]["failures"] == []
    assert _ops(result.bundle / "graphs" / "s2.5.onnx")["ai.acc::AccScore"] >= 1
