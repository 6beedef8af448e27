"""The adjustable graph with host-computed TopK widths, so TensorRT can parse it (and CUDA graphs can replay it).

Why: in the adjustable graph every ``TokenSelect`` ranks with ``TopK(score, K)`` where ``K = max_b k_b`` and
``k_b = clamp(ceil(ratio_l · n_valid_b), min_keep, k_prev)`` is computed on the device from the float
``keep_ratios`` input. TensorRT needs TopK's K to be a build-time constant or a *shape tensor*; a value derived from a
float network input is neither, so its ONNX parser rejects the first TopK ("Invalid Node ... TopK"). ONNX Runtime
copies K to the host instead, one device→host sync per pruned layer.

The rewrite adds one int64 input ``keep_counts [num_layers]``: per layer, the number of slots that layer keeps for
this batch, i.e. ``max_b k_b``, computed on the host by ``acc.runtime.keep_widths.keep_widths`` with ``acc.profiles.keep_counts`` (the
same float32 arithmetic as the graph, so the widths are the graph's own). TopK's K then comes from a network input
that TensorRT treats as a shape tensor (min/opt/max values in the optimization profile). The per-sample counts
``k_b`` are still computed in the graph from ``keep_ratios``, so per-sample semantics (docs/METHOD.md#2-selection) are
unchanged and, fed ``acc.runtime.keep_widths.keep_widths``, the outputs equal the ratios graph's exactly::

    keep_ratios ─► Gather ─► TokenSelect(h, m, p, score, n_valid, ratio, min_keep)                    before
    keep_ratios ─► Gather ─► TokenSelectK(h, m, p, score, n_valid, ratio, min_keep, width)            after
    keep_counts ─► Gather[l] ─────────────────────────────────────────────┘   (body: k_max = width)

A width larger than ``max_b k_b`` is also correct (extra slots are masked filler): that is what lets one CUDA graph
per (batch, seq) bucket replay with the widths of the bucket's full length (``bucket_widths``).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from acc.profiles import EngineBuildError
from acc.runtime.keep_widths import KEEP_COUNTS_INPUT, KEEP_RATIOS_INPUT

from .onnx_prep import OnnxGraph

DOMAIN = "ai.acc"
SOURCE_FUNCTION = "TokenSelect"
FUNCTION = "TokenSelectK"
WIDTH_VALUE = "k_max"  # the body's TopK width (static: from ratio and the padded length)


def token_select_k(source: Any) -> Any:
    """``TokenSelectK``: the ``TokenSelect`` body with one more input ``width`` (int64 [1]) used as TopK's K."""
    import onnx

    function = copy.deepcopy(source)
    function.name = FUNCTION
    function.input.append("width")
    producers = [node for node in function.node if WIDTH_VALUE in node.output]
    if len(producers) != 1:
        raise EngineBuildError(
            f"TokenSelect body has {len(producers)} producers of {WIDTH_VALUE!r}, expected 1; file a bug"
        )
    index = list(function.node).index(producers[0])
    function.node[index].CopyFrom(onnx.helper.make_node("Identity", ["width"], [WIDTH_VALUE]))
    # Drop what only fed the replaced width (ORT would warn about unused nodes per call site), back to front.
    nodes = list(function.node)
    used = set(function.output)
    kept = []
    for node in reversed(nodes):
        if set(node.output) & used:
            kept.append(node)
            used |= set(node.input)
    del function.node[:]
    function.node.extend(reversed(kept))
    return function


class KeepCountsOnnx:
    """``adjustable.onnx`` (a path, an ``OnnxGraph`` or a loader of one) → ``OnnxGraph`` taking ``keep_counts``.

    Refuses a graph without the ``keep_ratios`` input or without one ``TokenSelect`` per layer after the first
    (what ``export_graph`` writes for the adjustable graph); run before ``InlinedOnnx``. External weights stay
    external (only references are copied).
    """

    def __init__(self, source: Any) -> None:
        self.source = source

    def __call__(self) -> OnnxGraph:
        import onnx

        graph = _load(self.source)
        model = copy.deepcopy(graph.model)
        inputs = {value.name: value for value in model.graph.input}
        if KEEP_RATIOS_INPUT not in inputs:
            raise EngineBuildError(f"{graph.path.name} has no {KEEP_RATIOS_INPUT} input; only the adjustable graph "
                                   "takes keep counts")  # fmt: skip
        if KEEP_COUNTS_INPUT in inputs:
            return OnnxGraph(model, graph.path)
        dims = inputs[KEEP_RATIOS_INPUT].type.tensor_type.shape.dim
        num_layers = dims[0].dim_value if len(dims) == 1 and dims[0].dim_value else 0
        calls = [node for node in model.graph.node if node.domain == DOMAIN and node.op_type == SOURCE_FUNCTION]
        source = [f for f in model.functions if f.domain == DOMAIN and f.name == SOURCE_FUNCTION]
        if not num_layers or len(calls) != num_layers - 1 or not source:
            raise EngineBuildError(
                f"{graph.path.name} has {len(calls)} TokenSelect calls for {num_layers or '?'} layers (expected one per "
                "layer after the first, with the function body); pass the adjustable graph as acc-export wrote it"
            )
        model.graph.input.append(onnx.helper.make_tensor_value_info(KEEP_COUNTS_INPUT, onnx.TensorProto.INT64,
                                                                    [num_layers]))  # fmt: skip
        model.functions.append(token_select_k(source[0]))
        new_nodes = []
        for layer, call in enumerate(calls, start=1):  # calls chain through hidden states: graph order = layer order
            index, width = f"{KEEP_COUNTS_INPUT}_index_{layer}", f"{KEEP_COUNTS_INPUT}_{layer}"
            new_nodes += [
                onnx.helper.make_node("Constant", [], [index], name=f"{index}_const",
                                      value=onnx.helper.make_tensor(index, onnx.TensorProto.INT64, [1], [layer])),
                onnx.helper.make_node("Gather", [KEEP_COUNTS_INPUT, index], [width], name=f"{width}_gather", axis=0),
            ]  # fmt: skip
            call.op_type = FUNCTION
            call.input.append(width)
        nodes = new_nodes + list(model.graph.node)  # the Gathers read only a graph input: they can go first
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        return OnnxGraph(model, graph.path)


def _load(source: Any) -> OnnxGraph:
    if isinstance(source, OnnxGraph):
        return source
    if callable(source):
        return source()
    import onnx

    path = Path(source)
    if not path.is_file():
        raise EngineBuildError(f"graph {path} does not exist; export it first (acc-export)")
    return OnnxGraph(onnx.load(str(path), load_external_data=False), path)


def save_beside(graph: OnnxGraph, name: str) -> Path:
    """Write ``graph`` next to its source (so external weights resolve) as ``name``; returns the path."""
    import onnx

    target = graph.path.parent / name
    temporary = target.with_name(f".{name}.partial")
    onnx.save(graph.model, str(temporary))
    temporary.replace(target)
    return target
