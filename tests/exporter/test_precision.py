"""fp16 graph variants (``acc.exporter.precision``, ``acc.exporter.variants``): what stays fp32, that the variants run
on ONNX Runtime's CPU EP and keep the same *number* of word-vectors, that ``fp16`` keeps the ``TokenSelect`` calls
(fp16 hidden states, fp32 score) so the library's kernel runs, and that ``--precision`` bundles record them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnx.inliner
import pytest
from tiny_graphs import FLAT_RATIOS, ort_session, random_feeds, run_profiled, token_select_dtypes

from acc.exporter.precision import (
    FP16,
    FP16_ALL,
    fp32_nodes,
    inline_for_conversion,
    parse_graph_precisions,
    variant_path,
    write_variant,
)
from acc.profiles import DataError, ExportError


def test_parse_graph_precisions_always_includes_fp32_first() -> None:
    assert parse_graph_precisions("fp16") == ("fp32", "fp16")
    assert parse_graph_precisions("fp16-all, fp32,fp16") == ("fp32", "fp16", "fp16-all")
    assert parse_graph_precisions(["fp32"]) == ("fp32",)
    for bad, message in (("fp8", "takes fp32, fp16, fp16-all"), ("fp16,fp16", "twice"), ("", "takes")):
        with pytest.raises(ExportError, match=message) as info:
            parse_graph_precisions(bad)
        assert "\n" not in str(info.value)


def test_variant_path_is_the_naming_contract() -> None:
    assert variant_path("graphs/s1.5.onnx", "fp16") == "graphs/s1.5.fp16.onnx"
    assert variant_path("graphs/adjustable.onnx", "fp16-all") == "graphs/adjustable.fp16-all.onnx"
    assert variant_path("graphs/s3.onnx", "fp32") == "graphs/s3.onnx"
    with pytest.raises(DataError, match="not one of"):
        variant_path("graphs/s3.onnx", "int4")


def _inlined(path: Path) -> onnx.ModelProto:
    return onnx.inliner.inline_local_functions(onnx.load(str(path), load_external_data=False))


def test_fp32_nodes_keep_score_and_selection_but_fp16_all_ranks_in_fp16(tiny4_graphs) -> None:
    model = _inlined(tiny4_graphs.fixed.path)
    nodes = {node.name: node for node in model.graph.node}
    topk = [node for node in model.graph.node if node.op_type == "TopK"]
    ranking = [n.name for n in topk if next((a.i for a in n.attribute if a.name == "largest"), 1) == 1]
    ordering = [n.name for n in topk if n.name not in ranking]
    assert len(ranking) == len(ordering) == 2  # two TokenSelects (layers 2 and 4), two TopKs each

    fp16 = fp32_nodes(model, FP16)

    def ops(names):
        return {nodes[name].op_type for name in names}

    assert set(ranking + ordering) <= fp16
    assert {"Ceil", "Min", "MatMul", "ReduceSum", "Div"} <= ops(fp16)  # keep counts, static width + the ACC score
    assert "Softmax" not in ops(fp16) and "LayerNormalization" not in ops(fp16)  # the encoder is fp16
    matmuls = [name for name in fp16 if nodes[name].op_type == "MatMul"]
    assert len(matmuls) == 2  # only the score's mask·probs product per selection, no projection or attention

    every = fp32_nodes(model, FP16_ALL)
    assert set(ordering) <= every and not set(ranking) & every  # ranking TopK in fp16, ordering TopK fp32
    assert "Ceil" in ops(every) and "MatMul" not in ops(every)  # counts exact; score in fp16
    assert every < fp16

    calls = inline_for_conversion(onnx.load(str(tiny4_graphs.fixed.path), load_external_data=False), FP16)
    kept_calls = fp32_nodes(onnx.shape_inference.infer_shapes(calls), FP16)
    selects = [node for node in calls.graph.node if node.op_type == "TokenSelect"]
    assert len(selects) == 2 and {node.name for node in selects} <= kept_calls  # the calls stay, blocked (fp32)
    kept_ops = {node.op_type for node in calls.graph.node if node.name in kept_calls}
    assert {"MatMul", "ReduceSum", "Div"} <= kept_ops and "Softmax" not in kept_ops  # the ACC score, from the probs
    assert "Ceil" not in kept_ops and "LayerNormalization" not in kept_ops  # counts inside the call; encoder fp16

    with pytest.raises(ExportError, match="fp16-all inlines; run inline_for_conversion"):
        fp32_nodes(onnx.load(str(tiny4_graphs.fixed.path), load_external_data=False), FP16_ALL)


F16, F32 = np.dtype(np.float16), np.dtype(np.float32)


def _kept_counts(outputs: list[np.ndarray]) -> list[np.ndarray]:
    return [(index >= 0).sum(axis=1) for index in outputs[1:]]


@pytest.mark.parametrize("graph", ["fixed", "adjustable"])
def test_variants_run_on_cpu_ort_with_the_same_keep_counts(tiny4_graphs, graph: str, tmp_path: Path) -> None:
    exported = getattr(tiny4_graphs, graph)
    for name in (exported.path.name, tiny4_graphs.weights.name):
        shutil.copy(exported.path.parent / name, tmp_path / name)
    reference_session = ort_session(tmp_path / exported.path.name)
    for precision in (FP16, FP16_ALL):
        variant = write_variant(tmp_path / exported.path.name, precision)
        assert variant.path.name == Path(variant_path(exported.path.name, precision)).name
        model = onnx.load(str(variant.path))
        assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
        if precision == FP16:  # TokenSelect stays a call: fp16 hidden states in and out, fp32 score
            assert [f.name for f in model.functions] == ["TokenSelect"] and variant.calls == ("TokenSelect",)
            selects = [node for node in model.graph.node if node.op_type == "TokenSelect"]
            assert len(selects) == len(exported.select_layers)  # one call per pruned layer
        else:  # fp16-all ranks in fp16: TokenSelect inlined, its ranking TopK reads an fp16 score
            types = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.value_info, *model.graph.input)}
            ranking = [n.input[0] for n in model.graph.node
                       if n.op_type == "TopK" and next((a.i for a in n.attribute if a.name == "largest"), 1) == 1]  # fmt: skip
            assert (
                not model.functions and ranking and {types.get(name) for name in ranking} == {onnx.TensorProto.FLOAT16}
            )
        onnx.checker.check_model(model, full_check=True)  # topologically sorted, typed (through the function body)

        session = ort_session(variant.path)
        for batch, seq in ((1, 1), (4, 37), (2, 64)):
            feeds = random_feeds(batch, seq, seed=batch)
            if exported.spec.adjustable:
                feeds["keep_ratios"] = np.asarray(FLAT_RATIOS, dtype=np.float32)
            if precision == FP16:  # fp16 hidden states in and out of each call, fp32 score
                assert token_select_dtypes(variant.path, feeds) == [(F16, F32, F16)] * len(exported.select_layers)
            expected, got = reference_session.run(None, feeds), session.run(None, feeds)
            assert got[0].dtype == np.float32 and got[0].shape == expected[0].shape
            for a, b in zip(_kept_counts(got), _kept_counts(expected)):
                np.testing.assert_array_equal(a, b)  # keep-count arithmetic stayed exact
            same = np.ones(batch, dtype=bool)
            for a, b in zip(got[1:], expected[1:]):
                same &= (np.sort(a, axis=1) == np.sort(b, axis=1)).all(axis=1)
            if same.any():  # tiny random weights: near-tied scores may flip, which moves the logits legitimately
                np.testing.assert_allclose(got[0][same], expected[0][same], rtol=0, atol=5e-3)


def test_precision_flag_bundle_records_validated_variants(tiny_fp16_bundle: Path) -> None:
    from acc.runtime import read_manifest

    manifest = read_manifest(tiny_fp16_bundle, verify=True)  # every variant hashed and verified
    raw = json.loads((tiny_fp16_bundle / "manifest.json").read_text())
    section = raw["precisions"]
    assert section["graphs"] == ["fp32", "fp16", "fp16-all"]
    assert section["default"] == {"cpu": "fp32", "cuda": "fp16"} and section["measured_only"] == ["fp16-all"]
    graphs = [entry.graph for entry in manifest.profiles] + [manifest.adjustable.graph]
    for precision in ("fp16", "fp16-all"):
        for graph in graphs:
            assert variant_path(graph, precision) in manifest.files
        reports = section["validation"][precision]["reports"]
        assert {r["graph"] for r in reports} == {"dense", "s1.5", "adjustable"}
        assert all(r["examples"] == 8 and r["label_agreement"] >= 0.99 for r in reports)
    assert section["validation"]["fp16"]["gated"] and not section["validation"]["fp16-all"]["gated"]
    assert "graphs/weights.fp16.bin" in manifest.files
    assert manifest.files["graphs/weights.fp16.bin"].bytes < manifest.files["graphs/weights.bin"].bytes * 0.6
    variants = {(v["graph"], v["precision"]): v for v in section["variants"]}
    assert variants[("s1.5", "fp16")]["fp32_nodes"] > variants[("s1.5", "fp16-all")]["fp32_nodes"] > 0


def test_precision_flag_parses_and_rejects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from acc.exporter.options import ExportOptions
    from acc.tools import export as export_tool

    parser = argparse.ArgumentParser()
    ExportOptions.add_arguments(parser)
    assert ExportOptions.from_args(parser.parse_args(["--precision", "fp16"])).precision == ("fp32", "fp16")
    assert ExportOptions.from_args(parser.parse_args([])).precision == ("fp32",)
    assert export_tool.main(["--precision", "fp8", "--output", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "--precision takes fp32, fp16, fp16-all" in err and not (tmp_path / "b").exists()


def test_duplicate_casts_from_older_converters_are_merged_and_clashes_refused() -> None:
    """onnxruntime < 1.32 writes one Cast per blocked consumer under one name; the graph must end up SSA."""
    from onnx import TensorProto, helper

    from acc.exporter.precision import _drop_duplicate_casts
    from acc.profiles import ExportError

    cast = helper.make_node("Cast", ["x"], ["x_cast_to_fp32"], to=TensorProto.FLOAT, name="x_cast_to_fp32_node")
    graph = helper.make_graph(
        [cast, helper.make_node("Relu", ["x_cast_to_fp32"], ["a"]), cast,
         helper.make_node("Neg", ["x_cast_to_fp32"], ["b"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2]), helper.make_tensor_value_info("b", TensorProto.FLOAT, [2])],
        value_info=[helper.make_tensor_value_info("x_cast_to_fp32", TensorProto.FLOAT, [2])] * 2,
    )  # fmt: skip
    _drop_duplicate_casts(graph)
    assert [n.op_type for n in graph.node] == ["Cast", "Relu", "Neg"]
    assert len(graph.value_info) == 1
    onnx.checker.check_graph(graph)

    graph.node.append(helper.make_node("Cast", ["x"], ["x_cast_to_fp32"], to=TensorProto.DOUBLE))
    with pytest.raises(ExportError, match="two different nodes"):
        _drop_duplicate_casts(graph)


@pytest.mark.parametrize("precision", [FP16, FP16_ALL])
def test_keep_count_arithmetic_never_passes_through_fp16(tiny4_graphs, precision: str, tmp_path: Path) -> None:
    """The converter used to round-trip values between fp32 nodes through fp16 (Cast→fp16→Cast→fp32), so
    ``ceil(ratio · n)`` saw ``ratio`` rounded to fp16 and TensorRT refused the padded-length widths. Walked back
    from the Ceils of inlined selections (``fp16-all``) or from the count inputs of the TokenSelect calls
    (``fp16``: n_valid, ratio, min_keep, padded_len), no value and no constant is fp16, and the ratios are the fp32
    graph's bit for bit (0.6 is not a float16: it would round to 0.6001). The calls' score input is checked to be
    float32 in ``test_variants_run_on_cpu_ort_with_the_same_keep_counts``."""
    for name in (tiny4_graphs.fixed.path.name, tiny4_graphs.weights.name):
        shutil.copy(tiny4_graphs.fixed.path.parent / name, tmp_path / name)
    model = onnx.load(str(write_variant(tmp_path / tiny4_graphs.fixed.path.name, precision).path))
    producer = {output: node for node in model.graph.node for output in node.output}
    types = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.value_info, *model.graph.input)}
    types.update({t.name: t.data_type for t in model.graph.initializer})
    selects = [node for node in model.graph.node if node.op_type == "TokenSelect"]
    stack = [name for node in model.graph.node if node.op_type == "Ceil" for name in node.input]
    stack += [name for node in selects for name in node.input[4:]]
    assert stack and bool(selects) == (precision == FP16)
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        assert types.get(name) != onnx.TensorProto.FLOAT16, f"{name} feeds a keep count in fp16"
        node = producer.get(name)
        if node is None or node.op_type in ("Shape", "TokenSelect"):
            continue
        assert all(a.t.data_type != onnx.TensorProto.FLOAT16 for a in node.attribute), f"{node.name}: fp16 constant"
        stack.extend(i for i in node.input if i)
    if precision == FP16:
        ratios = [_constant(model, node.input[5]) for node in selects]
        assert all(value.dtype == np.float32 for value in ratios)
        assert sorted(float(value) for value in ratios) == [float(np.float32(0.3)), float(np.float32(0.6))]


def _constant(model: onnx.ModelProto, name: str) -> np.ndarray:
    """The value of ``name``, held by an initializer or a Constant node (anything else fails the test)."""
    from onnx import numpy_helper

    for tensor in model.graph.initializer:
        if tensor.name == name:
            return numpy_helper.to_array(tensor)
    node = next(node for node in model.graph.node if name in node.output)
    assert node.op_type == "Constant", f"{name} comes from {node.op_type}, not a constant"
    return numpy_helper.to_array(node.attribute[0].t)


@pytest.mark.parametrize("graph", ["fixed", "adjustable"])
def test_fp16_token_select_calls_run_the_library_kernel(tiny4_graphs, ops_library: Path, graph: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """With the custom-op library (its CPU TokenSelect kernel switched on) the fp16 variant's calls run the kernel on
    fp16 hidden states; without it ONNX Runtime inlines the body on them. Both give the same kept sets and logits."""
    monkeypatch.setenv("ACC_ORT_OPS_CPU_TOKENSELECT", "1")
    exported = getattr(tiny4_graphs, graph)
    for name in (exported.path.name, tiny4_graphs.weights.name):
        shutil.copy(exported.path.parent / name, tmp_path / name)
    variant = write_variant(tmp_path / exported.path.name, FP16)
    feeds = random_feeds(4, 37, seed=3)
    if exported.spec.adjustable:
        feeds["keep_ratios"] = np.asarray(FLAT_RATIOS, dtype=np.float32)
    body, body_ran = run_profiled(variant.path, feeds, tmp_path)
    kernel, kernel_ran = run_profiled(variant.path, feeds, tmp_path, library=ops_library)
    assert "TokenSelect" in kernel_ran and "TokenSelect" not in body_ran and "TopK" in body_ran
    assert "TopK" not in kernel_ran  # every selection ran in the kernel
    for a, b in zip(kernel[1:], body[1:]):
        np.testing.assert_array_equal(a, b)  # kept word-vectors
    np.testing.assert_allclose(kernel[0], body[0], rtol=0, atol=1e-3)
