"""ONNX Runtime's layer fusions on an exported fused-form graph: SkipLayerNormalization, BiasGelu and Attention.

Why: the dense baseline a user would deploy gets these from ``onnxruntime.transformers.optimizer``; without them
every residual add, layer norm, bias add and GELU is a kernel of its own, which costs the ACC graphs on every
backend. The optimizer itself cannot run on our graphs (its symbolic shape inference fails on the ``ai.acc`` ops),
so its fusion passes are applied directly: residual Add + LayerNormalization → SkipLayerNormalization (the bias of
the projection folded in), the erf GELU → Gelu → BiasGelu, and packed QKV projection + MultiHeadAttention →
Attention where nothing else reads Q and K (every layer not scored for a selection). Only the fused form gets them: it already needs ONNX
Runtime (``com.microsoft`` ops), while the eager form stays plain ONNX for parsers such as TensorRT's.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

FUSED_OPS = ("SkipLayerNormalization", "BiasGelu", "Attention")


def fuse_layers(proto: onnx.ModelProto, num_heads: int, hidden_size: int) -> dict[str, int]:
    """Apply the fusions to ``proto`` in place; returns how many nodes of each fused type the graph now has."""
    from onnxruntime.transformers.fusion_biasgelu import FusionBiasGelu
    from onnxruntime.transformers.fusion_gelu import FusionGelu
    from onnxruntime.transformers.fusion_skiplayernorm import (
        FusionBiasSkipLayerNormalization,
        FusionSkipLayerNormalization,
    )
    from onnxruntime.transformers.fusion_utils import FusionUtils
    from onnxruntime.transformers.onnx_model_bert import BertOnnxModel

    model = BertOnnxModel(proto, num_heads=num_heads, hidden_size=hidden_size)
    FusionUtils(model).remove_identity_nodes()  # the exporter's Identity(weight) nodes hide biases from the passes
    # shape_infer=False: the residual adds of an encoder layer add two [B, N, D] tensors, which is all the shape
    # check would establish (and it cannot run here).
    FusionGelu(model).apply()  # the optimizer's order: Gelu before the layer norms, bias folds last
    FusionSkipLayerNormalization(model, shape_infer=False).apply()
    FusionBiasGelu(model, is_fastgelu=False).apply()
    FusionBiasSkipLayerNormalization(model).apply()
    _fuse_packed_attention(proto)
    model.prune_graph()  # drops the projections the Attention nodes took over
    model.topological_sort()  # fused nodes are appended at the end of the node list
    counts = collections.Counter(node.op_type for node in proto.graph.node)
    return {op: counts[op] for op in FUSED_OPS}


def _fuse_packed_attention(proto: onnx.ModelProto) -> None:
    """MatMul(x, W) → Add(bias) → Split → MultiHeadAttention(Q, K, V, key_lengths) becomes
    ``com.microsoft::Attention(x, W, bias, key_lengths)`` where only the attention reads Q, K and V.

    Why: ONNX Runtime runs the MultiHeadAttention chain as four kernels; Attention (what its optimizer gives the
    dense baseline) is one, with the QKV GEMM inside. Its 1-D ``mask_index`` means the same as our key lengths
    (valid keys form a prefix). Layers whose Q and K also feed ``AccScore`` keep the chain: they need Q and K.
    """
    from onnx import helper

    graph = proto.graph
    producer = {output: node for node in graph.node for output in node.output}
    readers = collections.Counter(name for node in graph.node for name in node.input)
    readers.update(output.name for output in graph.output)
    initializers = {tensor.name: tensor for tensor in graph.initializer}

    def only_reader(name: str, op_type: str) -> onnx.NodeProto | None:
        node = producer.get(name)
        return node if node is not None and node.op_type == op_type and readers[name] == 1 else None

    for index, mha in enumerate(list(graph.node)):
        if mha.op_type != "MultiHeadAttention" or len(mha.input) != 5 or mha.input[3] or not mha.input[4]:
            continue
        split = producer.get(mha.input[0])
        if split is None or split.op_type != "Split" or list(split.output) != list(mha.input[:3]):
            continue
        if any(readers[name] != 1 for name in split.output):
            continue
        add = only_reader(split.input[0], "Add")
        bias = [name for name in add.input if name in initializers] if add is not None else []
        if len(bias) != 1:
            continue
        matmul = only_reader(next(name for name in add.input if name != bias[0]), "MatMul")
        if matmul is None or matmul.input[1] not in initializers:
            continue
        attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in mha.attribute}
        attention = helper.make_node(
            "Attention", [matmul.input[0], matmul.input[1], bias[0], mha.input[4]], list(mha.output),
            name=f"{mha.name}/packed", domain=mha.domain, num_heads=attributes["num_heads"], scale=attributes["scale"],
        )  # fmt: skip
        graph.node.remove(mha)
        graph.node.insert(index, attention)
