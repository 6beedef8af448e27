"""The fused export form: attention as ``com.microsoft::MultiHeadAttention`` and the score as ``ai.acc::AccScore``.

Why: the default graphs compute the ACC score from the attention probabilities, so every layer materialises an
[B, H, N, N] tensor and ONNX Runtime cannot use its fused attention kernels. In the fused form each layer is::

    hidden ─► packed QKV projection ─► MultiHeadAttention(Q, K, V, key_lengths) ─► output projection ─► FFN
                  └──────────────► AccScore(Q, K, mask) ─► score for the next TokenSelect      (no n×n tensor)

``MultiHeadAttention`` is an ONNX Runtime contrib op (CPU and CUDA kernels; fused on CUDA in fp16), so fused graphs
need ONNX Runtime; ``AccScore`` is an ONNX function (any runtime inlines its body) that our custom-op library
(``acc-build-ops``) replaces with a flash-style kernel. TensorRT parses only the default form. After export, layers
without an ``AccScore`` become one packed ``Attention`` node (``layer_fusions.py``).

The key mask travels as per-sample key lengths (``MASK_1D_KEY_SEQ_LEN``: the form ORT's fused CUDA kernels accept),
which is exact because valid word-vectors always form a prefix: inputs are right-padded (the bundle's tokenizer pads
right) and ``TokenSelect`` writes kept slots first. The PyTorch forward of the op uses the same lengths, so the
graph and the model it is validated against agree even for a left-padded input.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from acc.modeling.families import AttentionBias, EncoderFamily
from acc.profiles import ExportError, ModelError

from .acc_score import traceable_acc_score

MS_DOMAIN = "com.microsoft"
MS_DOMAIN_VERSION = 1
ATTENTION_FORMS = ("eager", "fused")


def check_attention_form(form: str) -> str:
    """``form`` if known, else one ``ExportError`` naming the choices."""
    if form not in ATTENTION_FORMS:
        raise ExportError(f"unknown attention form {form!r}; pass one of {', '.join(ATTENTION_FORMS)}")
    return form


class _MultiHeadAttentionOp(torch.autograd.Function):
    """Eager softmax attention over the first ``key_lengths[b]`` keys; exported as one ``MultiHeadAttention``."""

    @staticmethod
    def forward(ctx, query, key, value, key_lengths, num_heads, scale):  # noqa: ANN001, ANN205
        batch, n, width = query.shape
        heads = lambda t: t.view(batch, n, num_heads, width // num_heads).transpose(1, 2)  # noqa: E731
        logits = torch.matmul(heads(query), heads(key).transpose(-1, -2)) * scale
        valid = torch.arange(n, device=query.device)[None, :] < key_lengths[:, None].long()
        bias = torch.where(valid, 0.0, torch.finfo(logits.dtype).min).to(logits.dtype)
        probs = torch.softmax(logits + bias[:, None, None, :], dim=-1)
        return torch.matmul(probs, heads(value)).transpose(1, 2).reshape(batch, n, width)

    @staticmethod
    def symbolic(g, query, key, value, key_lengths, num_heads, scale):  # noqa: ANN001, ANN205
        no_bias = g.op("prim::Constant").setType(torch._C.NoneType.get())
        output = g.op(
            f"{MS_DOMAIN}::MultiHeadAttention", query, key, value, no_bias, key_lengths,
            num_heads_i=num_heads, scale_f=scale,
        )  # fmt: skip
        output.setType(query.type())
        return output


def packed_qkv(
    projections: tuple[nn.Linear, nn.Linear, nn.Linear], hidden: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q, K and V from one [D, 3D] projection (one GEMM instead of three; the exporter folds the concatenated
    weights into one initializer), split after the bias: what ONNX Runtime's own BERT fusion does.

    The split uses the static widths: ``chunk(3)`` traces its sizes from the runtime shape (Shape, Gather, Add, Div,
    two Muls and three Slices per layer, which ONNX Runtime's CPU graph keeps), a fixed ``split`` is one Split node.
    """
    weight = torch.cat([linear.weight for linear in projections])
    bias = torch.cat([linear.bias for linear in projections])
    widths = [linear.out_features for linear in projections]
    query, key, value = nn.functional.linear(hidden, weight, bias).split(widths, dim=-1)
    return query, key, value


def fused_attention(
    family: EncoderFamily, layer: nn.Module, hidden: torch.Tensor, mask: torch.Tensor, bias: AttentionBias
) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
    """``AttentionRunner`` of the fused form for any family without a position bias (see the module doc)."""
    try:
        parts = family.fused_parts(layer)
    except ModelError as exc:
        raise ExportError(str(exc)) from exc
    scale = float(parts.head_size) ** -0.5
    query, key, value = packed_qkv((parts.query, parts.key, parts.value), hidden)
    key_lengths = mask.sum(dim=1).to(torch.int32)
    context = _MultiHeadAttentionOp.apply(query, key, value, key_lengths, parts.num_heads, scale)
    return parts.output(context, hidden), lambda: traceable_acc_score(query, key, mask, parts.num_heads, scale)
