"""INT8 variants of exported graphs for CPUs: ONNX Runtime dynamic quantisation of the weight matrices only.

Why dynamic and weights-only: the encoder's time on a CPU is in its linear layers (Q/K/V, attention output, the two
FFN matrices), which are ``MatMul`` nodes with a constant weight. Quantising exactly
those (int8 weights, activations quantised per call by ``DynamicQuantizeLinear``) needs no calibration data, and
everything ACC decides stays float: the attention probabilities, the ACC score (``MatMul(mask, probs)`` has no
constant input, so it is never quantised), the keep-count arithmetic and both TopKs. So a request keeps the same
*number* of word-vectors per layer as fp32; only which ones can differ, when int8 rounding reorders near-equal scores.
The pooler and classifier are ``Gemm`` nodes on one token, which ORT's dynamic mode does not quantise: they stay float.

``Int8Options`` names the two knobs that were measured (``benchmarks/int8/int8_study.py``): per-channel weight scales
(one scale per output column instead of one per matrix) and keeping chosen linear layers float. Layers are chosen by
substrings of their *labels*, ``layer<i>/<role>`` (0-based ``i``; roles ``query``, ``key``, ``value``, ``attn_out``,
``ffn_in``, ``ffn_out``): ``ffn_out`` keeps every FFN down-projection float (its
input, after GELU, has the widest range), ``layer0/`` the whole first layer. Labels are read from the exporter's
node names (``/model/output/dense_3/MatMul`` → ``layer3/ffn_out``); a node they do not parse keeps its own name.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import ExportError

from .flags import flag

if TYPE_CHECKING:
    import onnx

QUANTIZED_OPS = ("MatMul",)  # ORT's dynamic (IntegerOps) mode has no Gemm
_ROLES = {
    "attention/self/query": "query",
    "attention/self/key": "key",
    "attention/self/value": "value",
    "attention/output/dense": "attn_out",
    "intermediate/dense": "ffn_in",
    "output/dense": "ffn_out",
}
_LAYER_NODE = re.compile(r"/(" + "|".join(_ROLES) + r")(?:_(\d+))?/MatMul$")


@dataclass(frozen=True)
class Int8Options:
    """How ``acc-export --precision int8`` quantises. The default is the measured best on bert-sst2
    (``benchmarks/results/int8-cpu-bert-sst2_*``): per-channel with the first layer float kept 98.9-99.3% of labels
    and every profile's SST-2 accuracy within 0.25 points of fp32; per-tensor reached 97.4%, per-channel alone 97.6%.

    ``per_channel``: one weight scale per output channel. ``float_nodes``: substrings of layer labels (module doc)
    whose linear layers stay float (empty: every weight matrix is int8). ``reduce_range``: 7-bit weights, for CPUs without VNNI
    whose int8 dot products can saturate (ORT's advice for older x86).
    """

    per_channel: bool = field(
        default=True,
        metadata=flag("int8: one weight scale per matrix instead of per output channel", names=("--int8-per-tensor",)),
    )
    float_nodes: tuple[str, ...] = field(
        default=("layer0/",),
        metadata=flag(
            "int8: comma-separated layer labels whose matmuls stay float (the measured best; '' quantises every layer; "
            "e.g. ffn_out or layer0/,layer1/query)",
            parse=lambda text, _: tuple(p.strip() for p in text.split(",") if p.strip()),
        ),
    )
    reduce_range: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weight_matmuls(model: onnx.ModelProto) -> list[str]:
    """Names of the ``MatMul`` nodes whose second input is a constant weight (an initializer).

    Attention's ``Q·Kᵀ`` and ``P·V`` and the ACC score's ``MatMul(mask, probs)`` multiply two activations and are
    not listed, so they stay float. Every node needs a name (the exporter and the inliner give one).
    """
    constants = {tensor.name for tensor in model.graph.initializer}
    constants |= {out for node in model.graph.node if node.op_type == "Constant" for out in node.output}
    names = []
    for node in model.graph.node:
        if node.op_type in QUANTIZED_OPS and len(node.input) > 1 and node.input[1] in constants:
            if not node.name:
                raise ExportError("a MatMul node with a weight has no name; re-export the graph")
            names.append(node.name)
    return names


def layer_label(node_name: str) -> str:
    """``/model/output/dense_3/MatMul`` → ``layer3/ffn_out``; a name it does not parse is returned as is."""
    match = _LAYER_NODE.search(node_name)
    return f"layer{int(match.group(2) or 0)}/{_ROLES[match.group(1)]}" if match else node_name


def select_nodes(model: onnx.ModelProto, float_nodes: Sequence[str]) -> tuple[list[str], list[str]]:
    """(quantised, kept float) weight-matmul node names; a ``float_nodes`` pattern that matches nothing is an error."""
    names = weight_matmuls(model)
    labels = {name: layer_label(name) for name in names}
    unused = [pattern for pattern in float_nodes if not any(pattern in label for label in labels.values())]
    if unused:
        raise ExportError(f"int8 float_nodes pattern(s) {unused} match no weight MatMul layer (labels look like "
                          f"{', '.join(sorted(set(labels.values()))[:3])}); pass e.g. ffn_out or layer0/")  # fmt: skip
    kept = [name for name in names if any(pattern in labels[name] for pattern in float_nodes)]
    return [name for name in names if name not in kept], kept


def quantize(model: onnx.ModelProto, options: Int8Options | None = None) -> tuple[onnx.ModelProto, int, int]:
    """A dynamically quantised copy of an inlined model with weights loaded: (model, int8 nodes, float nodes).

    Inputs and outputs keep their float32 / int64 types, so the variant is a drop-in for its fp32 graph.
    """
    import onnx

    options = options or Int8Options()
    quantized, kept = select_nodes(model, options.float_nodes)
    if not quantized:
        raise ExportError("graph has no weight MatMul left to quantise; drop some int8 float_nodes patterns")
    hint = _DropHint("pre-processing before quantization")  # ORT's advice for CNNs; we quantise MatMuls only
    root = logging.getLogger()
    root.addFilter(hint)
    with tempfile.TemporaryDirectory(prefix="acc-int8-") as work:
        source, target = Path(work) / "fp32.onnx", Path(work) / "int8.onnx"
        onnx.save(model, str(source))
        try:
            _quantize_file(source, target, quantized, options)
        finally:
            root.removeFilter(hint)
        result = onnx.load(str(target))
    return result, len(quantized), len(kept)


def _quantize_file(source: Path, target: Path, quantized: list[str], options: Int8Options) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), op_types_to_quantize=list(QUANTIZED_OPS), nodes_to_quantize=quantized,
                     per_channel=options.per_channel, reduce_range=options.reduce_range, weight_type=QuantType.QInt8,
                     extra_options={"MatMulConstBOnly": True})  # fmt: skip


class _DropHint(logging.Filter):
    """Drops one log message by substring (ORT logs its pre-processing advice on the root logger for every call)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()
