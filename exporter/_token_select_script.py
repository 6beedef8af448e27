"""onnxscript source of ``ai.acc::TokenSelect`` (see ``token_select.py`` for the contract).

A module of its own because onnxscript reads the type annotations at definition time: it must not use
``from __future__ import annotations``, and it imports onnxscript eagerly, so it is only imported on export.
"""

from onnxscript import FLOAT, INT64, script
from onnxscript import opset18 as op
from onnxscript.values import Opset

from .token_select import DOMAIN, DOMAIN_VERSION

acc_opset = Opset(DOMAIN, DOMAIN_VERSION)


@script(acc_opset, default_opset=op)
def TokenSelect(  # noqa: N802 - ONNX op names are CamelCase
    hidden: FLOAT,
    mask: INT64,
    positions: INT64,
    score: FLOAT,
    n_valid: INT64,
    ratio: FLOAT,
    min_keep: INT64,
    padded_len: INT64,
):
    n_current = op.ReduceSum(mask, op.Constant(value_ints=[1]), keepdims=0)
    raw = op.Cast(op.Ceil(op.Mul(ratio, op.Cast(n_valid, to=1))), to=7)
    k = op.Min(op.Max(raw, min_keep), n_current)
    seq_len = op.Shape(score, start=1, end=2)
    # The width: a full-length sample's keep count, from shapes and constants only (padded_len is a Shape output), so
    # a GPU runtime needs no device data on the host and fixed input shapes make every intermediate shape static.
    full = op.Cast(op.Ceil(op.Mul(ratio, op.Cast(padded_len, to=1))), to=7)
    k_max = op.Min(op.Reshape(op.Max(full, min_keep), op.Constant(value_ints=[1])), seq_len)
    _top_values, top = op.TopK(score, k_max, axis=1, largest=1, sorted=1)
    rank = op.Unsqueeze(
        op.Range(op.Constant(value_int=0), op.Squeeze(k_max), op.Constant(value_int=1)),
        op.Constant(value_ints=[0]),
    )
    kept = op.Less(rank, op.Unsqueeze(k, op.Constant(value_ints=[1])))
    key = op.Cast(op.Where(kept, top, op.Add(top, seq_len)), to=1)
    _key_values, order = op.TopK(key, k_max, axis=1, largest=0, sorted=1)
    index = op.GatherElements(top, order, axis=1)
    # Rows of the flattened [B·N, D] hidden states (not GatherElements with an index expanded to [B, K, D]: that
    # materialises B·K·D int64 indices, and ONNX Runtime 1.31's CUDA GatherElements returned non-finite rows for
    # float16 data there).
    flat = op.Reshape(hidden, op.Concat(op.Constant(value_ints=[-1]), op.Shape(hidden, start=2, end=3), axis=0))
    row_start = op.Mul(
        op.Range(op.Constant(value_int=0), op.Squeeze(op.Shape(hidden, start=0, end=1)), op.Constant(value_int=1)),
        op.Squeeze(seq_len),
    )
    hidden_out = op.Gather(flat, op.Add(index, op.Unsqueeze(row_start, op.Constant(value_ints=[1]))), axis=0)
    mask_out = op.Cast(kept, to=7)
    positions_out = op.GatherElements(positions, index, axis=1)
    return hidden_out, mask_out, positions_out
