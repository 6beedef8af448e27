"""``ai.acc::AccScore``: the ACC score as one ONNX node computed from Q and K, with a portable function body.

Why one node: the fused export form runs attention as ``com.microsoft::MultiHeadAttention``, which never exposes
the probabilities, so the score is recomputed from the projections. Where the ``acc_ort_ops`` library is
registered (``acc.runtime.custom_ops``) ONNX Runtime runs our flash-style kernel (row log-sum-exp, then column
sums; nothing n×n is stored). Everywhere else the model-local function below is inlined: it materialises the
probabilities, exactly as ``acc.modeling.score.acc_score`` on eager softmax, so every runtime gets the same score.

Contract (domain ``ai.acc`` version 1):
  inputs   query [B,N,H·dh] T, key [B,N,H·dh] T (T = float or float16), mask [B,N] int64 (1 = real word-vector)
  attrs    num_heads (int), scale (float; logits = scale · q·k)
  output   score [B,N] float: Σ_h Σ_{i valid} P[b,h,i,j] / (H · max(n_valid, 1)), −inf on padding, +inf at 0,
           where P = softmax over keys with padded keys excluded. All arithmetic in fp32.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from acc.modeling.score import acc_score

from .token_select import DOMAIN, DOMAIN_VERSION, OPSET

if TYPE_CHECKING:
    import onnx

__all__ = ["DOMAIN", "DOMAIN_VERSION", "FUNCTION_NAME", "OPSET", "acc_score_function", "acc_score_model", "acc_score_reference",
           "attach_acc_score", "count_acc_score", "traceable_acc_score"]  # fmt: skip

FUNCTION_NAME = "AccScore"


def acc_score_function() -> onnx.FunctionProto:
    """The FunctionProto of ``ai.acc::AccScore`` (opset 18 body, attributes ``num_heads`` and ``scale``)."""
    from ._acc_score_script import AccScore

    function = AccScore.to_function_proto()
    # onnxscript records the annotations (query: FLOAT) as value_info; dropped so one body serves float16 graphs.
    del function.value_info[:]
    return function


def acc_score_reference(
    query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor, num_heads: int, scale: float
) -> torch.Tensor:
    """The contract in PyTorch: eager softmax of fp32 logits with −FLT_MAX on padded keys, then ``acc_score``."""
    batch, length, width = query.shape
    q = query.float().reshape(batch, length, num_heads, width // num_heads).transpose(1, 2)
    k = key.float().reshape(batch, length, num_heads, width // num_heads).transpose(1, 2)
    bias = (1.0 - mask.float())[:, None, None, :] * torch.finfo(torch.float32).min
    probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale + bias, dim=-1)
    return acc_score(probs, mask)


class _AccScoreOp(torch.autograd.Function):
    """Runs the PyTorch reference while tracing, and is recorded as one ``ai.acc::AccScore`` node."""

    @staticmethod
    def forward(ctx, query, key, mask, num_heads, scale):  # noqa: ANN001, ANN205
        return acc_score_reference(query, key, mask, num_heads, scale)

    @staticmethod
    def symbolic(g, query, key, mask, num_heads, scale):  # noqa: ANN001, ANN205
        score = g.op(f"{DOMAIN}::{FUNCTION_NAME}", query, key, mask, num_heads_i=int(num_heads), scale_f=float(scale))
        sizes = query.type().sizes() if query.type().dim() is not None else None
        score.setType(mask.type().with_dtype(torch.float32).with_sizes(sizes[:2] if sizes else [None, None]))
        return score


def traceable_acc_score(
    query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor, num_heads: int, scale: float
) -> torch.Tensor:
    """The ACC score [B,N] (fp32) from projections [B,N,H·dh] while exporting: one ``ai.acc::AccScore`` node."""
    return _AccScoreOp.apply(query, key, mask.long(), int(num_heads), float(scale))


def attach_acc_score(proto: onnx.ModelProto) -> None:
    """Add the ``AccScore`` body (once) and the ``ai.acc`` opset import to a model whose main graph calls it.

    Idempotent; a model without an ``AccScore`` node is left untouched. Nodes inside subgraphs are not searched:
    the exporters emit the op in the main graph only.
    """
    import onnx

    if count_acc_score(proto) == 0:
        return
    if not any(f.domain == DOMAIN and f.name == FUNCTION_NAME for f in proto.functions):
        proto.functions.append(acc_score_function())
    if not any(entry.domain == DOMAIN for entry in proto.opset_import):
        proto.opset_import.append(onnx.helper.make_opsetid(DOMAIN, DOMAIN_VERSION))


def acc_score_model(elem_type: int, width: int, num_heads: int, scale: float) -> onnx.ModelProto:
    """A model of one AccScore node (inputs q, k [B,N,width] of ``elem_type``, m [B,N]; output s), body attached:
    what the op tests and the device benchmark run, with and without the kernel library."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node(FUNCTION_NAME, ["q", "k", "m"], ["s"], domain=DOMAIN, num_heads=num_heads, scale=scale)
    projections = [helper.make_tensor_value_info(name, elem_type, ["B", "N", width]) for name in ("q", "k")]
    graph = helper.make_graph([node], "acc_score", [*projections, helper.make_tensor_value_info("m", TensorProto.INT64, ["B", "N"])],
                              [helper.make_tensor_value_info("s", TensorProto.FLOAT, ["B", "N"])])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], ir_version=9)
    attach_acc_score(model)
    return model


def count_acc_score(proto: onnx.ModelProto) -> int:
    """Number of ``ai.acc::AccScore`` calls in the main graph (0 once inlined)."""
    return sum(1 for node in proto.graph.node if node.domain == DOMAIN and node.op_type == FUNCTION_NAME)
