"""ONNX Runtime's layer fusions on an exported fused-form graph: SkipLayerNormalization and BiasGelu.

Why: the dense baseline a user would deploy gets these from ``onnxruntime.transformers.optimizer``; without them
every residual add, layer norm, bias add and GELU is a kernel of its own, which costs the ACC graphs on every
backend. The optimizer itself cannot run on our graphs (its symbolic shape inference fails on the ``ai.acc`` ops),
so its fusion passes are applied directly: residual Add + LayerNormalization → SkipLayerNormalization (the bias of
the projection folded in), the erf GELU → Gelu → BiasGelu. Only the fused form gets them: it already needs ONNX
Runtime (``com.microsoft`` ops), while the eager form stays plain ONNX for parsers such as TensorRT's.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

FUSED_OPS = ("SkipLayerNormalization", "BiasGelu")


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
    model.prune_graph()
    model.topological_sort()  # fused nodes are appended at the end of the node list
    counts = collections.Counter(node.op_type for node in proto.graph.node)
    return {op: counts[op] for op in FUSED_OPS}
