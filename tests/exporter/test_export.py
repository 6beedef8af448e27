"""exporter/export.py (+ weights.py) on tiny4: graph contract, TokenSelect count, shared weights, goldens vs PyTorch.

The graphs come from the session fixture ``tiny4_graphs`` (flat profile 1, .6, .6, .3 and the adjustable graph,
exported at batch 2 × length 16). Parity runs on a grid of other shapes, with rows of random valid length and an
all-padding-but-[CLS] row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from tiny_graphs import GOLDEN_ATOL, TinyGraphs, kept_index, ort_session, random_feeds, torch_reference

from acc.exporter import GraphSpec, count_token_select, export_graph
from acc.exporter.export import MAX_IR_VERSION, kept_index_name
from acc.exporter.token_select import DOMAIN, FUNCTION_NAME
from acc.exporter.weights import INLINE_MAX_BYTES, WEIGHTS_FILE
from acc.profiles import ExportError, Profile, profile_for_speedup, pruned_layers

GRID = [(1, 1), (3, 7), (5, 33), (2, 128)]  # none of them is the export sample (2, 16)
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
ADJUSTABLE_RATIOS = {
    "dense": (1.0, 1.0, 1.0, 1.0),
    "steep": (1.0, 0.45, 0.2, 0.09),
    "uneven": (1.0, 0.7, 0.7, 0.25),
}


def _graphs(tiny4_graphs: TinyGraphs) -> list[Any]:
    return [tiny4_graphs.fixed, tiny4_graphs.adjustable]


def _load(path: Path) -> onnx.ModelProto:
    return onnx.load(str(path), load_external_data=False)


@pytest.fixture(scope="module")
def sessions(tiny4_graphs: TinyGraphs) -> dict[str, Any]:
    return {graph.spec.name: ort_session(graph.path) for graph in _graphs(tiny4_graphs)}


# ------------------------------------------------------------------------------------------------ graph contract


@pytest.mark.parametrize("which", ["fixed", "adjustable"])
def test_graph_passes_full_check_with_the_acc_opset(tiny4_graphs: TinyGraphs, which: str) -> None:
    graph = getattr(tiny4_graphs, which)
    onnx.checker.check_model(str(graph.path), full_check=True)  # by path: external weights are checked too
    proto = _load(graph.path)
    assert proto.ir_version <= MAX_IR_VERSION == 10
    opsets = {entry.domain: entry.version for entry in proto.opset_import}
    assert opsets.get("", opsets.get("ai.onnx", 0)) >= 17 and opsets[DOMAIN] == 1
    assert [(f.domain, f.name) for f in proto.functions] == [(DOMAIN, FUNCTION_NAME)]  # attached once


def _dims(value_info: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_inputs_outputs_and_dynamic_axes(tiny4_graphs: TinyGraphs) -> None:
    fixed, adjustable = _load(tiny4_graphs.fixed.path), _load(tiny4_graphs.adjustable.path)
    assert [i.name for i in fixed.graph.input] == INPUTS
    assert [i.name for i in adjustable.graph.input] == [*INPUTS, "keep_ratios"]
    for proto in (fixed, adjustable):
        for value in proto.graph.input[:3]:
            assert value.type.tensor_type.elem_type == onnx.TensorProto.INT64
            assert _dims(value) == ["batch", "sequence"]  # symbolic, not the sample's 2 × 16
        logits = proto.graph.output[0]
        assert logits.name == "logits" and _dims(logits)[0] == "batch"
    ratios = adjustable.graph.input[3]
    assert ratios.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and _dims(ratios) == [4]
    # kept_index outputs are named 1-based after the layer they enter, with a dynamic kept-length axis
    assert [o.name for o in fixed.graph.output] == ["logits", "kept_index_2", "kept_index_4"]
    assert [o.name for o in adjustable.graph.output] == ["logits", "kept_index_2", "kept_index_3", "kept_index_4"]
    assert _dims(fixed.graph.output[2]) == ["batch", "kept_4"]


def test_token_select_calls_equal_pruned_layers(tiny4_graphs: TinyGraphs) -> None:
    profile = tiny4_graphs.profile
    assert pruned_layers(profile.keep_ratios) == [1, 3]  # the flat step (layer 3) has no selection
    assert count_token_select(_load(tiny4_graphs.fixed.path)) == len(pruned_layers(profile.keep_ratios)) == 2
    assert tiny4_graphs.fixed.select_layers == (1, 3)
    assert count_token_select(_load(tiny4_graphs.adjustable.path)) == 3  # every layer after the first
    assert tiny4_graphs.adjustable.select_layers == (1, 2, 3)


def test_dense_profile_has_no_token_select(tiny4_graphs: TinyGraphs, tmp_path: Path) -> None:
    dense = profile_for_speedup(tiny4_graphs.model.shape, 1.0, name="dense")
    graph = export_graph(tiny4_graphs.model, GraphSpec("dense", dense), tmp_path / "dense.onnx", tiny4_graphs.config)
    proto = _load(graph.path)
    assert count_token_select(proto) == 0 and graph.output_names == ("logits",)
    assert not proto.functions and DOMAIN not in {entry.domain for entry in proto.opset_import}
    feeds = random_feeds(3, 7, seed=5)
    logits = ort_session(graph.path).run(["logits"], feeds)[0]
    np.testing.assert_allclose(logits, torch_reference(tiny4_graphs.model, feeds, None).logits.numpy(),
                               atol=GOLDEN_ATOL)  # fmt: skip


def test_profile_for_another_depth_is_an_export_error(tiny4_graphs: TinyGraphs, tmp_path: Path) -> None:
    two_layers = Profile("two", (1.0, 0.5), target_speedup=1.5, theoretical_speedup=1.5)
    with pytest.raises(ExportError, match="profile two has 2 ratios for a 4-layer model"):
        export_graph(tiny4_graphs.model, GraphSpec("two", two_layers), tmp_path / "two.onnx", tiny4_graphs.config)
    assert not (tmp_path / "two.onnx").exists()


# ------------------------------------------------------------------------------------------------ shared weights


def _external(proto: onnx.ModelProto) -> list[onnx.TensorProto]:
    return [t for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]


def test_weights_live_once_in_one_shared_file(tiny4_graphs: TinyGraphs) -> None:
    weights = tiny4_graphs.weights
    embeddings = tiny4_graphs.model.hf.bert.embeddings.word_embeddings.weight
    assert weights.name == WEIGHTS_FILE and weights.stat().st_size == tiny4_graphs.bytes_after_adjustable
    assert tiny4_graphs.bytes_after_fixed >= embeddings.numel() * 4  # the big tensors did move out
    assert tiny4_graphs.bytes_after_adjustable == tiny4_graphs.bytes_after_fixed  # the second graph added nothing
    total = 0
    for graph in _graphs(tiny4_graphs):
        proto = _load(graph.path)
        external = _external(proto)
        assert external, graph.spec.name
        for tensor in external:
            entries = {entry.key: entry.value for entry in tensor.external_data}
            assert entries["location"] == WEIGHTS_FILE  # both graphs point at the same file, beside them
            assert int(entries["offset"]) + int(entries["length"]) <= weights.stat().st_size
        inline = [t for t in proto.graph.initializer if t.data_location != onnx.TensorProto.EXTERNAL]
        assert all(t.ByteSize() <= INLINE_MAX_BYTES + 256 for t in inline)  # only small tensors stay inside
        assert graph.path.stat().st_size < weights.stat().st_size / 20
        total += sum(int({e.key: e.value for e in t.external_data}["length"]) for t in external)
    assert tiny4_graphs.reused_by_adjustable == len(_external(_load(tiny4_graphs.adjustable.path)))
    assert total > 1.9 * weights.stat().st_size  # two graphs' worth of tensors, stored about once


def test_shared_weights_refuse_a_graph_in_another_folder(tmp_path: Path, tiny4_graphs: TinyGraphs) -> None:
    from acc.exporter.weights import SharedWeights

    (tmp_path / "a").mkdir()
    with SharedWeights(tmp_path / "a" / WEIGHTS_FILE) as weights, pytest.raises(ValueError, match="must sit beside"):
        weights.externalize(tiny4_graphs.fixed.path)


# ---------------------------------------------------------------------------------------------- goldens vs torch


@pytest.mark.parametrize(("batch", "seq_len"), GRID)
def test_fixed_graph_matches_pytorch(
    tiny4_graphs: TinyGraphs, sessions: dict[str, Any], batch: int, seq_len: int
) -> None:
    graph = tiny4_graphs.fixed
    feeds = random_feeds(batch, seq_len, seed=batch * 1000 + seq_len)
    outputs = dict(zip(graph.output_names, sessions[graph.spec.name].run(list(graph.output_names), feeds)))
    reference = torch_reference(tiny4_graphs.model, feeds, tiny4_graphs.profile.keep_ratios)
    np.testing.assert_allclose(outputs["logits"], reference.logits.numpy(), atol=GOLDEN_ATOL, rtol=0)
    for layer in graph.select_layers:
        name = kept_index_name(layer)
        np.testing.assert_array_equal(outputs[name], kept_index(reference, layer), err_msg=name)
        kept = (outputs[name] >= 0).sum(axis=1)
        counts = [tiny4_graphs.profile.keep_counts(int(n))[layer] for n in feeds["attention_mask"].sum(axis=1)]
        assert kept.tolist() == counts, name  # and the counts are the profile's, from each row's valid length


@pytest.mark.parametrize(("batch", "seq_len"), GRID)
@pytest.mark.parametrize("ratios", list(ADJUSTABLE_RATIOS), ids=list(ADJUSTABLE_RATIOS))
def test_adjustable_graph_matches_pytorch_at_each_ratio_vector(
    tiny4_graphs: TinyGraphs, sessions: dict[str, Any], ratios: str, batch: int, seq_len: int
) -> None:
    graph = tiny4_graphs.adjustable
    keep_ratios = ADJUSTABLE_RATIOS[ratios]
    feeds = random_feeds(batch, seq_len, seed=batch * 1000 + seq_len)
    run_feeds = {**feeds, "keep_ratios": np.asarray(keep_ratios, dtype=np.float32)}
    outputs = dict(zip(graph.output_names, sessions[graph.spec.name].run(list(graph.output_names), run_feeds)))
    # Logits: the model as a fixed profile would run it (selections only where the ratio drops).
    reference = torch_reference(tiny4_graphs.model, feeds, keep_ratios)
    np.testing.assert_allclose(outputs["logits"], reference.logits.numpy(), atol=GOLDEN_ATOL, rtol=0)
    # kept_index: the adjustable graph selects before every layer; a flat step keeps everything it had.
    every = torch_reference(tiny4_graphs.model, feeds, keep_ratios, select_layers=list(graph.select_layers))
    for layer in graph.select_layers:
        name = kept_index_name(layer)
        np.testing.assert_array_equal(outputs[name], kept_index(every, layer), err_msg=name)
        kept_sets = [sorted(row[row >= 0].tolist()) for row in outputs[name]]
        assert kept_sets == [sorted(row[row >= 0].tolist()) for row in kept_index(reference, layer)], name


def test_adjustable_graph_at_one_equals_the_dense_model(tiny4_graphs: TinyGraphs, sessions: dict[str, Any]) -> None:
    feeds = random_feeds(4, 19, seed=11)
    run_feeds = {**feeds, "keep_ratios": np.ones(4, dtype=np.float32)}
    logits = sessions["adjustable"].run(["logits"], run_feeds)[0]
    dense = torch_reference(tiny4_graphs.model, feeds, None).logits.numpy()
    np.testing.assert_allclose(logits, dense, atol=GOLDEN_ATOL, rtol=0)
    steep = np.asarray(ADJUSTABLE_RATIOS["steep"], dtype=np.float32)
    pruned = sessions["adjustable"].run(["logits"], {**feeds, "keep_ratios": steep})[0]
    assert np.abs(pruned - dense).max() > 10 * GOLDEN_ATOL  # the ratios input really changes the computation
