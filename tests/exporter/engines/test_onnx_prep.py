"""exporter/engines/onnx_prep.py on real tiny4 graphs: inlining keeps the numbers, fp16 keeps the interface.

The function form and the inlined form are both run by ONNX Runtime on CPU; inlining must change nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from tiny_graphs import FLAT_RATIOS, ort_session, random_feeds

from acc.exporter import count_token_select
from acc.exporter.engines import Fp16Onnx, InlinedOnnx
from acc.exporter.engines.onnx_prep import OnnxGraph
from acc.exporter.token_select import DOMAIN
from acc.profiles import EngineBuildError


def _feeds(adjustable: bool, batch: int = 3, seq: int = 20) -> dict[str, np.ndarray]:
    feeds = random_feeds(batch, seq, seed=7)
    if adjustable:
        feeds["keep_ratios"] = np.asarray(FLAT_RATIOS, dtype=np.float32)
    return feeds


def _save_beside_weights(graph: OnnxGraph, folder: Path, weights: Path) -> Path:
    """Write the model where its external-data reference (``weights.bin``) resolves."""
    folder.mkdir(exist_ok=True)
    if graph.has_external_data:
        shutil.copy(weights, folder / weights.name)
    path = folder / graph.path.name
    onnx.save(graph.model, str(path))
    return path


@pytest.mark.parametrize("which", ["fixed", "adjustable"])
def test_inlined_graph_has_no_token_select_and_same_outputs(tiny4_graphs, tmp_path: Path, which: str) -> None:  # noqa: ANN001
    exported = getattr(tiny4_graphs, which)
    before = onnx.load(str(exported.path), load_external_data=False)
    assert count_token_select(before) == len(exported.select_layers) > 0 and before.functions

    graph = InlinedOnnx(exported.path)()  # lazy: nothing happened before this call
    assert graph.path == exported.path
    assert count_token_select(graph.model) == 0 and not graph.model.functions
    assert not any(node.domain == DOMAIN for node in graph.model.graph.node)
    assert graph.has_external_data  # weights were not read into memory
    assert graph.model.ByteSize() < 0.1 * tiny4_graphs.weights.stat().st_size

    inlined_path = _save_beside_weights(graph, tmp_path / "inlined", tiny4_graphs.weights)
    onnx.checker.check_model(str(inlined_path), full_check=True)
    feeds = _feeds(exported.spec.adjustable)
    expected = ort_session(exported.path).run(None, feeds)
    got = ort_session(inlined_path).run(None, feeds)
    assert len(got) == len(expected) == 1 + len(exported.select_layers)
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-6)  # logits
    for index_got, index_expected in zip(got[1:], expected[1:]):
        np.testing.assert_array_equal(index_got, index_expected)  # kept positions: identical selection


def test_inlined_loader_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(EngineBuildError, match="does not exist; export it first"):
        InlinedOnnx(tmp_path / "missing.onnx")()
    (tmp_path / "bad.onnx").write_bytes(b"\x00not a protobuf")
    with pytest.raises(EngineBuildError) as info:
        InlinedOnnx(tmp_path / "bad.onnx")()
    assert "cannot read graph" in str(info.value) and "\n" not in str(info.value)


def test_fp16_graph_keeps_io_types_and_fp32_topk(tiny4_graphs, tmp_path: Path) -> None:  # noqa: ANN001
    exported = tiny4_graphs.fixed
    inlined = InlinedOnnx(exported.path)
    graph = Fp16Onnx(inlined)()
    model = graph.model
    assert not graph.has_external_data  # weights converted in memory and embedded
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    original = onnx.load(str(exported.path), load_external_data=False)
    io_types = lambda m: [(v.name, v.type.tensor_type.elem_type) for v in (*m.graph.input, *m.graph.output)]  # noqa: E731
    assert io_types(model) == io_types(original)

    types = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.value_info, *model.graph.input)}
    topk_scores = [node.input[0] for node in model.graph.node if node.op_type == "TopK"]
    assert topk_scores and all(types.get(name) == onnx.TensorProto.FLOAT for name in topk_scores)  # ranked in fp32

    feeds = _feeds(adjustable=False)
    expected = ort_session(exported.path).run(None, feeds)
    path = _save_beside_weights(graph, tmp_path / "fp16", tiny4_graphs.weights)
    got = ort_session(path).run(None, feeds)
    assert got[0].dtype == np.float32
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=5e-3)  # fp16 rounding on tiny logits (~3e-2)


def test_fp16_refuses_a_graph_with_functions(tiny4_graphs) -> None:  # noqa: ANN001
    with_functions = OnnxGraph(
        onnx.load(str(tiny4_graphs.fixed.path), load_external_data=False), tiny4_graphs.fixed.path
    )
    with pytest.raises(EngineBuildError, match="wrap it in InlinedOnnx first"):
        Fp16Onnx(with_functions)()
