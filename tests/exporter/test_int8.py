"""int8 graph variants (``acc.exporter.int8``): which matmuls are quantised, that the variants run in ONNX Runtime with
the same keep counts as fp32, and that ``--precision int8`` bundles record and serve them (``precision="int8"``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnx.inliner
import pytest
from tiny_graphs import ort_session, random_feeds

from acc.exporter.int8 import (
    Int8Options,
    layer_label,
    quantize,
    select_nodes,
    weight_matmuls,
)
from acc.exporter.precision import INT8, variant_path, write_variant
from acc.profiles import BundleError, ExportError
from acc.runtime import Runtime

TEXTS = ["a gripping, beautifully shot film", "dull.", "the plot never quite comes together , but the cast is great"]


def _inlined(path: Path) -> onnx.ModelProto:
    return onnx.inliner.inline_local_functions(onnx.load(str(path)))


def test_only_weight_matmuls_are_selected_never_attention_or_the_acc_score(tiny4_graphs) -> None:
    model = _inlined(tiny4_graphs.fixed.path)
    names = weight_matmuls(model)
    initializers = {t.name for t in model.graph.initializer}
    nodes = {node.name: node for node in model.graph.node}
    # 4 layers x (Q, K, V, attention output, FFN up, FFN down); pooler and classifier are Gemm, left float
    assert len(names) == 4 * 6
    assert all(nodes[name].input[1] in initializers for name in names)
    activations = [n for n in model.graph.node if n.op_type == "MatMul" and n.name not in names]
    assert len(activations) == 4 * 2 + 2  # Q·Kᵀ and P·V per layer, plus the ACC score of each of 2 selections
    assert [n.op_type for n in model.graph.node if n.op_type == "Gemm"] == ["Gemm", "Gemm"]
    labels = [layer_label(name) for name in names]
    assert labels[:6] == ["layer0/query", "layer0/key", "layer0/value", "layer0/attn_out", "layer0/ffn_in",
                          "layer0/ffn_out"] and labels[-1] == "layer3/ffn_out"  # fmt: skip
    assert len(set(labels)) == len(labels)
    quantized, kept = select_nodes(model, ["ffn_out"])
    assert [layer_label(name) for name in kept] == [f"layer{i}/ffn_out" for i in range(4)]
    assert len(quantized) == len(names) - 4
    _, kept = select_nodes(model, ["layer0/", "layer3/query"])
    assert len(kept) == 7
    with pytest.raises(ExportError, match=r"pattern\(s\) \['nope'\] match no weight MatMul layer"):
        select_nodes(model, ["nope"])


@pytest.mark.parametrize("graph", ["fixed", "adjustable"])
def test_int8_variant_runs_in_ort_with_the_same_keep_counts(tiny4_graphs, graph: str, tmp_path: Path) -> None:
    exported = getattr(tiny4_graphs, graph)
    for name in (exported.path.name, tiny4_graphs.weights.name):
        shutil.copy(exported.path.parent / name, tmp_path / name)
    variant = write_variant(tmp_path / exported.path.name, INT8)
    assert variant.path.name == Path(variant_path(exported.path.name, INT8)).name
    assert variant.fp32_nodes == 6  # the default recipe keeps layer 0's six weight matmuls float
    model = onnx.load(str(variant.path))
    ops = {node.op_type for node in model.graph.node}
    assert "DynamicQuantizeLinear" in ops or "DynamicQuantizeMatMul" in ops or "MatMulInteger" in ops
    assert not model.functions and "TopK" in ops  # TokenSelect inlined, its ranking untouched
    int8_weights = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2]
    assert len(int8_weights) == 3 * 6
    feeds = random_feeds(3, 24, seed=1)
    if exported.spec.adjustable:
        feeds["keep_ratios"] = np.asarray([1.0, 0.6, 0.6, 0.3], dtype=np.float32)
    reference = ort_session(tmp_path / exported.path.name).run(None, feeds)
    outputs = ort_session(variant.path).run(None, feeds)
    assert outputs[0].dtype == np.float32 and outputs[0].shape == reference[0].shape
    assert np.abs(outputs[0] - reference[0]).max() < 0.05  # int8 moves tiny logits (~3e-2) a little, not wholesale
    for ours, theirs in zip(outputs[1:], reference[1:]):  # keep counts are float arithmetic: identical
        np.testing.assert_array_equal((ours >= 0).sum(axis=1), (theirs >= 0).sum(axis=1))


def test_per_tensor_and_float_nodes_change_what_is_int8(tiny4_graphs) -> None:
    model = _inlined(tiny4_graphs.fixed.path)
    _, int8_count, float_count = quantize(model, Int8Options(float_nodes=("ffn_out",)))
    assert (int8_count, float_count) == (20, 4)
    per_channel, _, _ = quantize(model, Int8Options(per_channel=True, float_nodes=()))
    per_tensor, _, _ = quantize(model, Int8Options(per_channel=False, float_nodes=()))

    def scale_sizes(m: onnx.ModelProto) -> set[int]:
        return {int(np.prod(t.dims)) for t in m.graph.initializer if "scale" in t.name}

    assert max(scale_sizes(per_channel)) >= 64 and scale_sizes(per_tensor) == {1}  # one scale per output column


def test_int8_bundle_is_validated_recorded_and_served(tiny_int8_bundle: Path, tiny_export_bundle: Path) -> None:
    manifest = json.loads((tiny_int8_bundle / "manifest.json").read_text())
    section = manifest["precisions"]
    assert section["graphs"] == ["fp32", "int8"] and section["default"] == {"cpu": "fp32", "cuda": "fp32"}
    assert section["int8"] == {"per_channel": True, "float_nodes": ["layer0/"], "reduce_range": False}
    validation = section["validation"]["int8"]
    assert validation["gated"] and validation["min_label_agreement"] == 0.98 and not validation["failures"]
    reports = validation["reports"]
    assert {r["graph"] for r in reports} == {"dense", "s1.5", "adjustable"}
    assert all(r["source"] == "sst2-dev" and r["onnx_accuracy"] is not None for r in reports)
    for graph in ("dense", "s1.5", "adjustable"):
        assert f"graphs/{graph}.int8.onnx" in manifest["files"]
    assert "graphs/weights.int8.bin" in manifest["files"]

    fp32 = Runtime.load(tiny_int8_bundle, device="cpu", threads=1)
    int8 = Runtime.load(tiny_int8_bundle, device="cpu", threads=1, precision="int8")
    assert fp32.precision == "fp32" and int8.precision == "int8"
    a, b = fp32.predict(TEXTS, speedup=1.5), int8.predict(TEXTS, speedup=1.5)
    assert a.profile == b.profile == "s1.5"
    assert np.abs(a.logits - b.logits).max() < 0.05 and not np.array_equal(a.logits, b.logits)
    assert int8.predict(TEXTS, speedup=1.7).profile == "s1.7"  # the adjustable graph in int8
    with pytest.raises(BundleError, match=r"has no int8 graphs .*acc-export --precision fp32,int8"):
        Runtime.load(tiny_export_bundle, device="cpu", precision="int8")


@pytest.fixture(scope="module")
def tiny_int8_bundle(tiny_checkpoint: Path, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from acc.exporter import ExportOptions, main_export

    options = ExportOptions(model=str(tiny_checkpoint), speedups=(1.5,), output=tmp_path_factory.mktemp("int8") / "tiny",
                            data_dir=sst2_dir, max_examples=16, validate_grid="none", bench=False, progress=False,
                            threads=1, precision=("fp32", "int8"))  # fmt: skip
    return main_export(options).bundle


def test_cli_flags_build_the_int8_recipe() -> None:
    import argparse

    from acc.exporter import ExportOptions

    parser = argparse.ArgumentParser()
    ExportOptions.add_arguments(parser)
    default = ExportOptions.from_args(parser.parse_args(["--precision", "int8"]))
    assert default.precision == ("fp32", "int8") and default.int8 == Int8Options()
    chosen = ExportOptions.from_args(parser.parse_args(["--precision", "fp32,int8", "--int8-per-tensor",
                                                        "--int8-float-nodes", "ffn_out, layer0/"]))  # fmt: skip
    assert chosen.int8 == Int8Options(per_channel=False, float_nodes=("ffn_out", "layer0/"))
    everything = ExportOptions.from_args(parser.parse_args(["--precision", "int8", "--int8-float-nodes", ""]))
    assert everything.int8.float_nodes == ()
