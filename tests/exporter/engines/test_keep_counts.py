"""The keep-counts adjustable graph (TopK widths as an int64 input, for TensorRT shape tensors and CUDA graphs):
host widths equal the graph's own, ORT gives identical outputs to the ratios graph, and the TensorRT path declares
the input as a shape input and checks its values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_graphs import ort_session, random_feeds

from acc.exporter.engines import EngineFromNetwork, InlinedOnnx, NetworkFromOnnx, ShapeRanges
from acc.exporter.engines.keep_counts import KeepCountsOnnx, save_beside
from acc.profiles import DataError, EngineBuildError, keep_counts
from acc.runtime.keep_widths import bucket_widths, keep_widths


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=3, max_size=3),
    st.lists(st.integers(0, 40), min_size=1, max_size=5),
    st.integers(1, 3),
)
def test_widths_are_the_largest_count_and_buckets_cover_them(
    tail: list[float], lengths: list[int], min_keep: int
) -> None:
    ratios = [1.0, *sorted(tail, reverse=True)]
    seq = max(lengths + [1])
    mask = (np.arange(seq)[None, :] < np.asarray(lengths)[:, None]).astype(np.int64)
    widths = keep_widths(ratios, mask, min_keep)
    assert widths.dtype == np.int64 and widths.shape == (4,)
    per_row = np.asarray([keep_counts(ratios, n, min_keep) for n in lengths])
    np.testing.assert_array_equal(widths, per_row.max(axis=0))
    assert (bucket_widths(ratios, seq, min_keep) >= widths).all()


def test_keep_counts_graph_gives_the_ratios_graph_outputs(tiny4_graphs, tmp_path: Path) -> None:
    source = tiny4_graphs.adjustable.path
    graph = KeepCountsOnnx(source)()
    assert [v.name for v in graph.model.graph.input][-1] == "keep_counts"
    assert sum(n.op_type == "TokenSelectK" for n in graph.model.graph.node) == 3
    assert not any(n.op_type == "TokenSelect" for n in graph.model.graph.node)
    path = save_beside(graph, "adjustable.counts.onnx")  # beside weights.bin, which it references
    try:
        onnx.checker.check_model(str(path), full_check=True)
        ratios_session, counts_session = ort_session(source), ort_session(path)
        for batch, seq, ratios in ((4, 37, [1, 0.6, 0.6, 0.3]), (3, 64, [1, 0.5, 0.2, 0.05]), (1, 1, [1, 1, 1, 1])):
            feeds = random_feeds(batch, seq, seed=seq)
            feeds["keep_ratios"] = np.asarray(ratios, dtype=np.float32)
            expected = ratios_session.run(None, feeds)
            got = counts_session.run(None, {**feeds, "keep_counts": keep_widths(ratios, feeds["attention_mask"])})
            for a, b in zip(got, expected):
                np.testing.assert_array_equal(a, b)
    finally:
        path.unlink()
    assert KeepCountsOnnx(graph)().model.graph.input[-1].name == "keep_counts"  # already rewritten: unchanged


def test_keep_counts_refuses_graphs_it_cannot_rewrite(tiny4_graphs) -> None:
    with pytest.raises(EngineBuildError, match="no keep_ratios input") as info:
        KeepCountsOnnx(tiny4_graphs.fixed.path)()
    assert "\n" not in str(info.value)
    with pytest.raises(EngineBuildError, match="does not exist"):
        KeepCountsOnnx(tiny4_graphs.fixed.path.with_name("missing.onnx"))()


def test_engine_profile_declares_keep_counts_as_a_shape_input(fake_trt, staged: Path) -> None:
    import json

    fake_trt(device_cc="sm87")
    network = NetworkFromOnnx(InlinedOnnx(KeepCountsOnnx(staged / "graphs" / "adjustable.onnx")))()
    shapes = ShapeRanges((1, 2, 4), (8, 32, 64))
    plan = json.loads(EngineFromNetwork(network, "fp32", shapes)().data)
    assert plan["shape_inputs"] == [{"keep_counts": [[1] * 4, [32] * 4, [64] * 4]}]
    assert "keep_counts" not in plan["profiles"][0]


def test_shape_values_must_fit_the_engine_profile() -> None:
    from acc.runtime.trt_backend import check_shape_values

    check_shape_values("keep_counts", [64, 20, 5, 1], [1] * 4, [64] * 4)
    with pytest.raises(DataError, match=r"keep_counts = \[65, 20, 5, 1\] is outside") as info:
        check_shape_values("keep_counts", [65, 20, 5, 1], [1] * 4, [64] * 4)
    assert "--engine-seq" in str(info.value) and "\n" not in str(info.value)
