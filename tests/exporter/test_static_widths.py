"""Static-width ACC graphs: every width follows the input *shape*, and results still follow each row alone.

``ai.acc::TokenSelect`` v3 sizes its output from the padded length (``K = clamp(ceil(ratio · N), min_keep, N_prev)``)
and masks each row's slots beyond its own keep count. What this buys (no device→host copy per pruned layer, CUDA
graphs per bucket) is measured on the GPU (benchmarks/device/gpu_check2.py); here: the graph's widths depend on no
input value, the widths are the padded length's keep counts, and a mixed-length batch answers exactly as its rows do
one by one, in ONNX Runtime and in PyTorch.
"""

from __future__ import annotations

import numpy as np
import onnx
from tiny_graphs import FLAT_RATIOS, TinyGraphs, kept_index, ort_session, random_feeds, torch_reference

from acc.exporter.export import kept_index_name
from acc.profiles import keep_counts
from acc.runtime.graph_widths import data_dependent_widths

KEEP_RATIOS = "keep_ratios"


def _graph(path: object) -> onnx.ModelProto:
    return onnx.load(str(path), load_external_data=False)


def test_profile_graph_widths_depend_on_no_input_value(tiny4_graphs: TinyGraphs) -> None:
    model = _graph(tiny4_graphs.fixed.path)
    assert any(node.op_type == "TokenSelect" for node in model.graph.node)
    assert data_dependent_widths(model) == []


def test_adjustable_graph_widths_depend_only_on_its_keep_ratios(tiny4_graphs: TinyGraphs) -> None:
    model = _graph(tiny4_graphs.adjustable.path)
    assert len(data_dependent_widths(model)) == 2 * 3  # two TopKs per TokenSelect, one before each later layer
    assert data_dependent_widths(model, host_inputs=(KEEP_RATIOS,)) == []


def test_old_data_dependent_width_is_detected() -> None:
    """A TopK whose K is reduced from an input's values (what TokenSelect v2 did) is reported."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("ReduceMax", ["counts"], ["k"], keepdims=1),
        helper.make_node("TopK", ["score", "k"], ["values", "index"], name="rank"),
    ]
    graph = helper.make_graph(
        nodes,
        "v2",
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["B", "N"]),
            helper.make_tensor_value_info("counts", TensorProto.INT64, ["B"]),
        ],
        [helper.make_tensor_value_info("index", TensorProto.INT64, ["B", "K"])],
    )
    assert data_dependent_widths(helper.make_model(graph)) == ["rank"]


def test_kept_widths_are_the_padded_lengths_keep_counts(tiny4_graphs: TinyGraphs) -> None:
    feeds = random_feeds(5, 23, seed=3)
    outputs = dict(zip(tiny4_graphs.fixed.output_names, ort_session(tiny4_graphs.fixed.path).run(None, feeds)))
    widths = keep_counts(FLAT_RATIOS, 23)
    for layer in tiny4_graphs.fixed.select_layers:
        assert outputs[kept_index_name(layer)].shape == (5, widths[layer])


def test_mixed_length_batch_answers_like_each_row_alone(tiny4_graphs: TinyGraphs) -> None:
    """Logits within 1e-5 and the same kept sets, for a batch whose rows are padded far beyond their length."""
    feeds = random_feeds(6, 31, seed=11)
    session = ort_session(tiny4_graphs.fixed.path)
    names = tiny4_graphs.fixed.output_names
    batch = dict(zip(names, session.run(None, feeds)))
    reference = torch_reference(tiny4_graphs.model, feeds, list(FLAT_RATIOS))
    lengths = feeds["attention_mask"].sum(axis=1)
    assert len(set(lengths.tolist())) > 2
    for row, length in enumerate(lengths):
        alone_feeds = {name: value[row : row + 1, :length] for name, value in feeds.items()}
        alone = dict(zip(names, session.run(None, alone_feeds)))
        np.testing.assert_allclose(batch["logits"][row], alone["logits"][0], atol=1e-5, err_msg=f"row {row}")
        np.testing.assert_allclose(reference.logits[row].numpy(), alone["logits"][0], atol=1e-5)
        for layer in tiny4_graphs.fixed.select_layers:
            name = kept_index_name(layer)
            kept = sorted(set(batch[name][row].tolist()) - {-1})
            assert kept == sorted(set(alone[name][0].tolist()) - {-1}), f"row {row}, layer {layer}"
            assert kept == sorted(set(kept_index(reference, layer)[row].tolist()) - {-1})
