"""Which ``TopK`` widths of a graph depend on data rather than on the input shapes.

Why it matters: a CUDA graph replays the shapes it captured, and a GPU runtime must copy any width computed from
device data to the host before it can size the next tensor (one sync per selection). Static-width ACC graphs
(``ai.acc::TokenSelect`` v3) take every width from ``Shape`` outputs and constants, so a graph captured for a
(batch, seq) bucket replays correctly for every batch of that bucket. Checked on the graph itself (functions
inlined), so it holds for any file: fp32, fp16 variants, inlined forms, or graphs from older exporters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

_SHAPE_OPS = frozenset({"Shape", "Size", "Constant"})


def data_dependent_widths(model: onnx.ModelProto, host_inputs: Iterable[str] = ()) -> list[str]:
    """Names (or ``op#index``) of the ``TopK`` nodes whose K depends on a graph input's *values*.

    ``host_inputs``: inputs whose values the runtime fixes per bucket on the host (e.g. ``keep_counts``), which
    count as static. A value is static when it is an initializer, a constant, a ``Shape``/``Size`` output, or
    computed from static values only.
    """
    import onnx.inliner

    graph = onnx.inliner.inline_local_functions(model).graph if model.functions else model.graph
    static = {init.name for init in graph.initializer} | set(host_inputs) | {""}
    dependent: list[str] = []
    for index, node in enumerate(graph.node):
        if node.op_type == "TopK" and len(node.input) > 1 and node.input[1] not in static:
            dependent.append(node.name or f"TopK#{index}")
        if node.op_type in _SHAPE_OPS or all(name in static for name in node.input):
            static.update(node.output)
    return dependent
