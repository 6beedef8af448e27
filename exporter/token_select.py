"""``ai.acc::TokenSelect``: the ONNX local function that drops word-vectors, and its PyTorch export hook.

Why a local function: runtimes that know functions (ONNX Runtime) keep one readable node per pruned layer and
inline it themselves; parsers that do not (older TensorRT) get the expanded graph (``acc-export --inline``, which
runs ``onnx.inliner.inline_local_functions``).
The body mirrors ``acc.modeling.select.select_tokens`` op for op, including the float32 keep-count arithmetic,
so PyTorch and ONNX keep the same number of word-vectors for every length.

Inputs: hidden [B,N,D], mask [B,N] int64, positions [B,N] int64, score [B,N] float (−inf padding, +inf [CLS]),
n_valid [B] int64 (original valid length), ratio [] float, min_keep [] int64, padded_len [] int64 (the input's
padded length, from a ``Shape`` node).
Outputs: hidden [B,K,D], mask [B,K] int64, positions [B,K] int64 with the *static* width
K = min(max(ceil(ratio·padded_len), min_keep), N); kept slots first, in order, then masked fillers.

Why static: K depends on shapes only, so on a GPU no selection needs device data on the host (the data-dependent
K = max_b k_b cost one device→host sync per pruned layer), and a fixed input shape fixes every shape in the graph,
which CUDA graphs and engine builders need. Each sample still keeps its own k_b ≤ K; results equal the per-sample
reference (logits, kept sets); only the number of masked filler slots grows.

Sketch of the body::

    k = min(max(ceil(ratio·n_valid), min_keep), Σ mask)           per sample
    K = min(max(ceil(ratio·padded_len), min_keep), N)            from shapes
    top = TopK(score, K)                         ─ indices, best first
    key = top if rank < k else top + N           ─ filler slots sort last
    index = top[TopK(key, K, smallest)]          ─ kept slots in original order
    hidden = Gather(hidden as [B·N, D], index + b·N)   ─ whole rows
    positions = GatherElements(positions, index); mask = rank < k
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from acc.modeling.select import Selection, select_tokens
from acc.profiles import ExportError

if TYPE_CHECKING:
    import onnx

DOMAIN = "ai.acc"
DOMAIN_VERSION = 1
FUNCTION_NAME = "TokenSelect"
# Recorded in the manifest (graph_format.token_select_version). 3: static width from an eighth input, padded_len.
# 2: hidden rows gathered with Gather on a flattened view. 1 (bundles before 2026-11-25): GatherElements with an expanded index, whose ONNX Runtime 1.31 CUDA kernel
# returned non-finite rows for float16 data, so the runtime never picks such a bundle's fp16 graphs by itself.
BODY_VERSION = 3
OPSET = 18


def token_select_function() -> onnx.FunctionProto:
    """The FunctionProto of ``ai.acc::TokenSelect`` (opset 18 body), built with onnxscript on first use."""
    from ._token_select_script import TokenSelect

    return TokenSelect.to_function_proto()


class _TokenSelectOp(torch.autograd.Function):
    """Runs the PyTorch reference while tracing, and is recorded as one ``ai.acc::TokenSelect`` node."""

    @staticmethod
    def forward(ctx, hidden, mask, positions, score, n_valid, ratio, min_keep, padded_len):  # noqa: ANN001, ANN205
        selection = select_tokens(hidden, mask, positions, score, n_valid, ratio, int(min_keep), padded_len)
        return selection.hidden, selection.mask, selection.positions

    @staticmethod
    def symbolic(g, hidden, mask, positions, score, n_valid, ratio, min_keep, padded_len):  # noqa: ANN001, ANN205
        outputs = g.op(
            f"{DOMAIN}::{FUNCTION_NAME}",
            hidden,
            mask,
            positions,
            score,
            n_valid,
            ratio,
            min_keep,
            padded_len,
            outputs=3,
        )
        # Types for the exporter's shape inference: K follows the padded length, the rest follows the inputs.
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
    padded_len: torch.Tensor | None = None,
) -> Selection:
    """Drop-in ``selector`` for the ACC models while exporting; ``padded_len`` must be ``padded_length(input_ids)``."""
    if padded_len is None:
        raise ExportError("TokenSelect needs the padded length; call the selector with padded_length(input_ids)")
    outputs = _TokenSelectOp.apply(
        hidden,
        mask,
        positions,
        score,
        n_valid,
        ratio.reshape(()).float(),
        torch.tensor(min_keep, dtype=torch.long),
        padded_len.reshape(()).long(),
    )
    return Selection(*outputs)
