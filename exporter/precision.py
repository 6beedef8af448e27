"""fp16 variants of exported graphs: which nodes stay fp32, the conversion, and the file each variant lives in.

Why a variant and not a flag on the export: the PyTorch export stays fp32 (the reference every graph is validated
against); an fp16 graph is a *rewrite* of the fp32 graph with ONNX Runtime's converter
(``onnxruntime.transformers.float16``, shipped in every onnxruntime wheel, CPU or GPU: no extra dependency).
Two variants, named by what stays in fp32:

- ``fp16``: encoder in fp16; the ACC score (from the fp16 attention probabilities on), the keep-count arithmetic
  and the ranking stay fp32, as PyTorch autocast runs them (scores are computed in fp32:
  docs/METHOD.md#1-acc-score), so fp16 rounding cannot reorder which word-vectors are kept. This is what the
  runtime picks on CUDA, so its ``ai.acc::TokenSelect`` nodes stay *calls*: hidden states go in and come out fp16
  (the library's kernels take float or float16 there, and the function body only gathers them, so ONNX Runtime's
  inliner types it for fp16 too when no library is loaded); score, n_valid, ratio, min_keep and padded_len go in
  fp32. Inlined, the body's shape arithmetic landed on the CPU EP (Memcpy nodes, no CUDA graph; BERT-base b1 s128
  on an H100: s3 fp16 4.19 ms against 1.19 ms for the dense fp16 baseline), and the CUDA kernel never ran.
- ``fp16-all``: only the keep-count arithmetic stays fp32 (``ceil(ratio · n_valid)`` must stay exact, or a
  layer keeps a different *number* of word-vectors); the score and the ranking TopK run in fp16, so its
  ``TokenSelect`` is inlined (the call ranks in fp32). Shipped only to measure how often fp16 scores change the kept
  set (its flip rate); never picked by default, so the inlined body's speed does not matter.

``AccScore`` (fused form) stays a call in every variant: it computes the score in fp32 from fp16 Q and K itself.
Every other local function is inlined first (``inline_for_conversion``): the converter does not look inside
functions, and a call it blocks sees fp32 copies of its inputs, so ``_feed_kernels_fp16`` wires the kept calls' fp16
data straight in and out. Which nodes stay fp32 is read from the graph, not from names: walking back from each
kept ``TokenSelect``'s selection inputs, or from each TopK of an inlined one, stopping at the attention
``Softmax``, at ``AccScore``, at other selections, and at ``Shape`` (whose output carries no float). Inlined
(``fp16-all``, and TensorRT's ``Fp16Onnx``, which converts inlined graphs)::

    Softmax ─► [Cast→fp32] MatMul(mask, probs) → ReduceSum → Div → Where → Where ─► TopK(score, K)  (fp16: fp32)
    n_valid, ratio ─► Cast → Mul → Ceil → Cast → Max → Min ─────────────► k per sample (always fp32)
    padded_len, ratio ─► Cast → Mul → Ceil → Cast → Max → Reshape → Min ─► K (from shapes; always fp32)

Kept call (``fp16``; the counts are computed inside it, in fp32)::

    Softmax ─► [Cast→fp32] MatMul(mask, probs) → … → Where ─┐ (or AccScore's fp32 output, fused form)
    hidden (fp16) ──────────────────────────────────────────┼─► TokenSelect ─► hidden (fp16), mask, positions
    n_valid, ratio, min_keep, padded_len (fp32 / int64) ────┘
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import ExportError
from acc.runtime.precision import FP16, FP16_ALL, FP32, GRAPH_PRECISIONS, INT8, variant_path

if TYPE_CHECKING:
    import onnx

    from .int8 import Int8Options

# fp16 graphs are checked against the fp32 PyTorch model with these bounds (fp32 graphs: the config's 1e-4):
# logits of unflipped samples within 5e-2 (fp16 has ~3 significant digits; bert-sst2 logits are within ±6),
# and at least 99% of labels equal. ``fp16-all`` is measured, never gated: its flips are what it is there to show.
FP16_ATOL = 5e-2
FP16_MIN_LABEL_AGREEMENT = 0.99
# int8 graphs: int8 logits move by ~0.1 where fp16's move by 1e-3, so the logits bound only catches a broken graph,
# and labels gate. The target was 99% agreement; the best recipe measured on bert-sst2 reached 98.9-99.3% per
# profile (benchmarks/results/int8-cpu-bert-sst2_*), so the gate is 98%, which per-tensor quantisation (97.4%) fails.
INT8_ATOL = 1.0
INT8_MIN_LABEL_AGREEMENT = 0.98
GATED = (FP16, INT8)
BOUNDS = {
    FP16: (FP16_ATOL, FP16_MIN_LABEL_AGREEMENT),
    FP16_ALL: (FP16_ATOL, FP16_MIN_LABEL_AGREEMENT),
    INT8: (INT8_ATOL, INT8_MIN_LABEL_AGREEMENT),
}  # (logits atol, min label agreement) per variant
# Ops the converter keeps fp32 by default minus TopK, whose inputs we decide per variant (see module doc).
# ``AccScore`` (fused form) computes the score from Q and K in fp32 itself: it stays a call, fp32, and the walk
# stops there as at the Softmax of the default form. ``TokenSelect`` (kept as a call in ``fp16``) starts walks of
# its own, so a later selection's walk stops at an earlier one's mask output.
_STOP_OPS = ("Softmax", "TopK", "AccScore", "TokenSelect")
_ACC_SCORE = ("ai.acc", "AccScore")
_TOKEN_SELECT = ("ai.acc", "TokenSelect")
# Calls that survive conversion per variant: kernel-backed ops whose CUDA kernels must run in the variant.
_KEPT_FUNCTIONS = {FP16: (_ACC_SCORE, _TOKEN_SELECT), FP16_ALL: (_ACC_SCORE,), INT8: (_ACC_SCORE,)}
# Inputs of a kept TokenSelect that decide the selection (score, n_valid, ratio, min_keep, padded_len): fp32 always.
_SELECTION_INPUTS = slice(3, 8)
# Per kept call: (inputs, outputs) that carry fp16 data straight through (the kernels take float16 there; the
# function bodies cast or only gather). AccScore: query, key. TokenSelect: hidden in, hidden out.
_FP16_DATA = {"AccScore": ((0, 1), ()), "TokenSelect": ((0,), (0,))}


def parse_graph_precisions(text: str | Iterable[str]) -> tuple[str, ...]:
    """``"fp32,fp16"`` → ``("fp32", "fp16")``. fp32 is always included (first): it is the CPU graph and the base
    every variant is converted from, so ``"fp16"`` alone means ``("fp32", "fp16")``."""
    items = [item.strip() for item in text.split(",")] if isinstance(text, str) else [str(i).strip() for i in text]
    unknown = [item for item in items if item not in GRAPH_PRECISIONS]
    if not items or unknown:
        raise ExportError(
            f"--precision takes {', '.join(GRAPH_PRECISIONS)} (comma-separated), got {text!r}; write e.g. fp32,fp16"
        )
    if len(set(items)) != len(items):
        raise ExportError(f"--precision names a precision twice ({text!r}); list each once")
    return (FP32, *(p for p in GRAPH_PRECISIONS[1:] if p in items))


def fp32_nodes(model: onnx.ModelProto, precision: str) -> set[str]:
    """Names of the nodes of a graph prepared by ``inline_for_conversion`` that stay fp32 in ``precision``.

    Walks start at each TopK of an inlined selection, or at the selection inputs of a kept ``TokenSelect`` call
    (see the module doc). Every node needs a unique name (the exporter and the inliner give one); a graph that
    still calls a function this variant inlines is refused (its TopKs would be hidden).
    """
    if precision not in (FP16, FP16_ALL):
        raise ExportError(f"fp32_nodes is for fp16 variants, got {precision!r}")
    if any((f.domain, f.name) not in _KEPT_FUNCTIONS[precision] for f in model.functions):
        raise ExportError(f"graph still has local functions (TokenSelect) that {precision} inlines; "
                          "run inline_for_conversion before converting to fp16")  # fmt: skip
    producer = {output: node for node in model.graph.node for output in node.output if output}
    keep: set[str] = set()

    def walk(tensor: str) -> None:
        stack = [tensor]
        while stack:
            node = producer.get(stack.pop())
            if node is not None and node.op_type == "AccScore":
                keep.add(node.name)
            if node is None or node.name in keep or node.op_type in _STOP_OPS:
                continue
            keep.add(node.name)
            if node.op_type != "Shape":
                stack.extend(name for name in node.input if name)

    for node in model.graph.node:
        if node.op_type not in ("TopK", "TokenSelect"):
            continue
        if not node.name:
            raise ExportError(f"a {node.op_type} node has no name; re-export the graph (names decide what stays fp32)")
        if node.op_type == "TokenSelect":  # the call ranks and counts inside: its score and count inputs stay fp32
            keep.add(node.name)
            for name in node.input[_SELECTION_INPUTS]:
                walk(name)
            continue
        walk(node.input[1])  # K: the keep-count arithmetic, exact in fp32 for every variant
        ranks_scores = _attribute(node, "largest", 1) == 1
        if precision == FP16 or not ranks_scores:  # the ordering TopK sorts positions: always fp32
            keep.add(node.name)
            walk(node.input[0])
    return keep


def inline_for_conversion(model: onnx.ModelProto, precision: str) -> onnx.ModelProto:
    """Inline every local function except the kernel-backed calls ``precision`` keeps (``_KEPT_FUNCTIONS``)."""
    import onnx.inliner

    if not model.functions:
        return model
    return onnx.inliner.inline_selected_functions(model, list(_KEPT_FUNCTIONS[precision]), exclude=True)


def _attribute(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


def to_fp16(model: onnx.ModelProto, precision: str = FP16) -> onnx.ModelProto:
    """A converted copy of a model with weights loaded: float16 inside, float32 inputs and outputs.

    ``model`` is fully inlined (TensorRT's ``Fp16Onnx``) or prepared by ``inline_for_conversion`` for ``precision``.

    Inputs and outputs keep their types (``keep_io_types``), so a variant is a drop-in for its fp32 graph.
    """
    inferred = _inferred(model)
    return _convert(inferred, fp32_nodes(inferred, precision))


def _inferred(model: onnx.ModelProto) -> onnx.ModelProto:
    """A new model with value types filled in: the converter needs them to place its Casts."""
    import onnx

    return onnx.shape_inference.infer_shapes(model)


def _convert(inferred: onnx.ModelProto, keep: set[str]) -> onnx.ModelProto:
    """Convert ``inferred`` in place (the converter edits its argument) with ``keep`` left fp32."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    ops = sorted(set(DEFAULT_OP_BLOCK_LIST) - {"TopK"})
    converted = convert_float_to_float16(inferred, keep_io_types=True, op_block_list=ops,
                                         node_block_list=sorted(keep), disable_shape_infer=True)  # fmt: skip
    _drop_duplicate_casts(converted.graph)
    _drop_fp16_round_trips(converted.graph)
    _feed_kernels_fp16(converted.graph)
    _sort_topologically(converted.graph)
    return converted


def _drop_fp16_round_trips(graph: onnx.GraphProto) -> None:
    """Feed fp32 nodes their fp32 inputs directly where the converter routes them through fp16 and back.

    The converter types every float value between two blocked (fp32) nodes as float16 and wraps it in
    ``Cast(to=fp16)`` → ``Cast(to=fp32)``, so ``ceil(ratio · n)`` saw ``ratio`` and ``n`` rounded to fp16 (a layer
    could keep another *number* of word-vectors) and TensorRT refused the padded-length width arithmetic
    (Myelin: "Input 0's element type (float) differs from input 1's element type (half)"). The now unread Casts
    are removed by ``_feed_kernels_fp16``.
    """
    import onnx

    producer = {output: node for node in graph.node for output in node.output}
    types = {info.name: info.type.tensor_type.elem_type for info in (*graph.value_info, *graph.input)}
    types.update({tensor.name: tensor.data_type for tensor in graph.initializer})
    for node in graph.node:
        for index, name in enumerate(node.input):
            up = producer.get(name)
            if up is None or up.op_type != "Cast" or _attribute(up, "to", 0) != onnx.TensorProto.FLOAT:
                continue
            down = producer.get(up.input[0])
            if down is None or down.op_type != "Cast" or _attribute(down, "to", 0) != onnx.TensorProto.FLOAT16:
                continue
            if types.get(down.input[0]) == onnx.TensorProto.FLOAT:
                node.input[index] = down.input[0]


def _feed_kernels_fp16(graph: onnx.GraphProto) -> None:
    """Wire the kept calls' fp16 data (``_FP16_DATA``) straight in and out instead of through fp32 copies.

    The calls are blocked (their score and counts must stay fp32), so the converter feeds them ``Cast(to=float)`` of
    fp16 values and casts their float outputs back to fp16. Both kernels take float16 data (AccScore's tensor-core
    path; TokenSelect gathers rows of either type) and both bodies accept it (AccScore's casts, TokenSelect's only
    gathers), so these casts of [B, N, D] tensors per selection are pure cost, and TokenSelect's hidden output is
    then fp16 as its input. Casts nobody reads any more are removed.
    """
    import onnx

    producer = {output: node for node in graph.node for output in node.output}
    types = {info.name: info.type.tensor_type.elem_type for info in graph.value_info}
    dropped: set[int] = set()  # ids of the converter's output Casts, whose work the call now does
    for node in graph.node:
        inputs, outputs = _FP16_DATA.get(node.op_type, ((), ()))
        for index in inputs:
            cast = producer.get(node.input[index])
            if _is_cast(cast, onnx.TensorProto.FLOAT) and types.get(cast.input[0]) == onnx.TensorProto.FLOAT16:
                node.input[index] = cast.input[0]
        for index in outputs:
            readers = [n for n in graph.node if node.output[index] in n.input]
            if len(readers) == 1 and _is_cast(readers[0], onnx.TensorProto.FLOAT16):
                dropped.add(id(readers[0]))
                node.output[index] = readers[0].output[0]
    read = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
    kept = [node for node in graph.node if id(node) not in dropped
            and (node.op_type != "Cast" or any(out in read for out in node.output))]  # fmt: skip
    if len(kept) != len(graph.node):
        nodes = [copy.deepcopy(node) for node in kept]
        del graph.node[:]
        graph.node.extend(nodes)
    written = {name for node in graph.node for name in node.output} | {value.name for value in graph.input}
    written |= {tensor.name for tensor in graph.initializer}
    infos = [copy.deepcopy(info) for info in graph.value_info if info.name in written]
    if len(infos) != len(graph.value_info):
        del graph.value_info[:]
        graph.value_info.extend(infos)


def _is_cast(node: onnx.NodeProto | None, to: int) -> bool:
    return node is not None and node.op_type == "Cast" and _attribute(node, "to", 0) == to


def _drop_duplicate_casts(graph: onnx.GraphProto) -> None:
    """Keep one copy of each identical node writing the same output.

    onnxruntime < 1.32's converter inserts one ``<x>_cast_to_fp32`` Cast per blocked consumer of ``x``, all with the
    same output name, which breaks SSA (the checker and TensorRT refuse it); 1.32 shares one Cast. Identical copies
    are dropped; two different nodes writing one name stay an error.
    """
    seen: dict[str, bytes] = {}
    kept = []
    for node in graph.node:
        body = node.SerializeToString(deterministic=True)
        clashes = [name for name in node.output if name in seen]
        if clashes and all(seen[name] == body for name in clashes) and len(clashes) == len(node.output):
            continue
        if clashes:
            raise ExportError(f"fp16 graph writes {clashes[0]!r} from two different nodes; file a bug")
        seen.update({name: body for name in node.output})
        kept.append(node)
    if len(kept) != len(graph.node):
        nodes = [copy.deepcopy(node) for node in kept]
        del graph.node[:]
        graph.node.extend(nodes)
    infos: dict[str, onnx.ValueInfoProto] = {}
    for info in graph.value_info:
        infos.setdefault(info.name, copy.deepcopy(info))
    if len(infos) != len(graph.value_info):
        del graph.value_info[:]
        graph.value_info.extend(infos.values())


def _sort_topologically(graph: onnx.GraphProto) -> None:
    """Reorder nodes so each comes after its inputs' producers (stable otherwise).

    The converter appends the Casts it inserts at the end of the node list; ONNX Runtime does not mind, but the
    ONNX checker and TensorRT's parser require a topologically sorted graph.
    """
    available = {value.name for value in graph.input} | {tensor.name for tensor in graph.initializer} | {""}
    pending = list(graph.node)
    ordered = []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        if not ready:
            raise ExportError(f"fp16 graph has a cycle or a dangling input at {pending[0].name}; file a bug")
        ready_ids = {id(node) for node in ready}
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [node for node in pending if id(node) not in ready_ids]
    nodes = [copy.deepcopy(node) for node in ordered]
    del graph.node[:]
    graph.node.extend(nodes)


@dataclass(frozen=True)
class GraphVariant:
    """One written variant: its file, what it converts, how many nodes stayed fp32 and which calls were not inlined
    (for the manifest)."""

    graph: str  # graph name (profile or "adjustable")
    precision: str
    path: Path
    source: Path
    fp32_nodes: int
    nodes: int
    calls: tuple[str, ...]  # local functions still called (kernel-backed ai.acc ops), e.g. ("AccScore", "TokenSelect")

    def to_manifest(self, root: Path) -> dict[str, Any]:
        return {"graph": self.graph, "precision": self.precision, "file": self.path.relative_to(root).as_posix(),
                "source": self.source.relative_to(root).as_posix(), "fp32_nodes": self.fp32_nodes,
                "nodes": self.nodes, "calls": list(self.calls)}  # fmt: skip


def write_variant(source: Path, precision: str, name: str | None = None,
                  int8_options: Int8Options | None = None) -> GraphVariant:  # fmt: skip
    """Convert the fp32 graph at ``source`` (weights beside it) and write the variant beside it, weights embedded.

    fp16 variants: ``to_fp16``'s rewrite; ``int8``: ``acc.exporter.int8.quantize`` with ``int8_options``
    (``fp32_nodes`` in the record then counts the weight matmuls left float).

    The caller moves the variant's weights into a shared file (``SharedWeights``), as it does for fp32 graphs.
    Over 2 GB in fp16 the protobuf cannot hold the weights and the export stops with a one-line error.
    """
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    source = Path(source)
    target = source.parent / Path(variant_path(source.name, precision)).name
    try:
        model = onnx.load(str(source), load_external_data=False)
        load_external_data_for_model(model, str(source.parent))
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read {source} and its weights ({exc}); export the fp32 graph first") from exc
    if precision == INT8:
        from .int8 import quantize

        converted, _, float_count = quantize(inline_for_conversion(model, INT8), int8_options)
        keep: set[str] | list[str] = [""] * float_count  # counted for the manifest: weight matmuls left float
    else:
        model = _inferred(inline_for_conversion(model, precision))
        keep = fp32_nodes(model, precision)
        converted = _convert(model, keep)
    if converted.ByteSize() >= 2**31:
        raise ExportError(f"{target.name} is over 2 GB with its weights embedded; export --precision fp32 only")
    temporary = target.with_name(f".{target.name}.partial")
    onnx.save(converted, str(temporary))
    temporary.replace(target)
    calls = tuple(sorted(function.name for function in converted.functions))
    return GraphVariant(name or source.stem, precision, target, source, len(keep), len(converted.graph.node), calls)
