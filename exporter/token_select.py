"""``ai.acc::TokenSelect``: the ONNX local function that drops word-vectors, and its PyTorch export hook.

Why a local function: runtimes that know functions (ONNX Runtime) keep one readable node per pruned layer and
inline it themselves; parsers that do not (older TensorRT) get the expanded graph from ``inline_functions``.
The body mirrors ``acc.modeling.select.select_tokens`` op for op, including the float32 keep-count arithmetic,
so PyTorch and ONNX keep the same number of word-vectors for every length.

Inputs: hidden [B,N,D], mask [B,N] int64, positions [B,N] int64, score [B,N] float (−inf padding, +inf [CLS]),
n_valid [B] int64 (original valid length), ratio [] float, min_keep [] int64.
Outputs: hidden [B,K,D], mask [B,K] int64, positions [B,K] int64 with K = max_b k_b; kept slots first, in order.

Sketch of the body::

    k = min(max(ceil(ratio·n_valid), min_keep), Σ mask)           per sample
    top = TopK(score, max k)                    ─ indices, best first
    key = top if rank < k else top + N           ─ filler slots sort last
    index = top[TopK(key, max k, smallest)]      ─ kept slots in original order
    hidden = Gather(hidden as [B·N, D], index + b·N)   ─ whole rows
    positions = GatherElements(positions, index); mask = rank < k
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from acc.modeling.select import Selection, select_tokens

if TYPE_CHECKING:
    import onnx

DOMAIN = "ai.acc"
DOMAIN_VERSION = 1
FUNCTION_NAME = "TokenSelect"
# Recorded in the manifest (graph_format.token_select_version). 2: hidden rows gathered with Gather on a flattened
# view. 1 (bundles before 2026-11-25): GatherElements with an expanded index, whose ONNX Runtime 1.31 CUDA kernel
# returned non-finite rows for float16 data, so the runtime never picks such a bundle's fp16 graphs by itself.
BODY_VERSION = 2
OPSET = 18


def token_select_function() -> onnx.FunctionProto:
    """The FunctionProto of ``ai.acc::TokenSelect`` (opset 18 body), built with onnxscript on first use."""
    from ._token_select_script import TokenSelect

    return TokenSelect.to_function_proto()


class _TokenSelectOp(torch.autograd.Function):
    """Runs the PyTorch reference while tracing, and is recorded as one ``ai.acc::TokenSelect`` node."""

    @staticmethod
    def forward(ctx, hidden, mask, positions, score, n_valid, ratio, min_keep):  # noqa: ANN001, ANN205
        selection = select_tokens(hidden, mask, positions, score, n_valid, ratio, int(min_keep))
        return selection.hidden, selection.mask, selection.positions

    @staticmethod
    def symbolic(g, hidden, mask, positions, score, n_valid, ratio, min_keep):  # noqa: ANN001, ANN205
        outputs = g.op(f"{DOMAIN}::{FUNCTION_NAME}", hidden, mask, positions, score, n_valid, ratio, min_keep, outputs=3)
        # Types for the exporter's shape inference: K is data-dependent, the rest follows the inputs.
        for value, like, rank in zip(outputs, (hidden, mask, positions), (3, 2, 2)):
            value.setType(like.type().with_sizes([None] * rank))
        return outputs


def traceable_select(
    hidden: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    score: torch.Tensor,
    n_valid: torch.Tensor,
    ratio: torch.Tensor,
    min_keep: int = 1,
) -> Selection:
    """Drop-in ``selector`` for ``AccBertForSequenceClassification`` while exporting."""
    outputs = _TokenSelectOp.apply(
        hidden, mask, positions, score, n_valid, ratio.reshape(()).float(), torch.tensor(min_keep, dtype=torch.long)
    )
    return Selection(*outputs)
