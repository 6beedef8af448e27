"""onnxscript source of ``ai.acc::AccScore`` (see ``acc_score.py`` for the contract).

A module of its own because onnxscript reads the type annotations at definition time: it must not use
``from __future__ import annotations``, and it imports onnxscript eagerly, so it is only imported on export.
``num_heads`` and ``scale`` are function attributes: each call site's values reach the body as attribute
references (``Constant(value_int=num_heads)``), so one body serves every layer and model.
"""

from onnxscript import FLOAT, INT64, script
from onnxscript import opset18 as op
from onnxscript.values import Opset

from .acc_score import DOMAIN, DOMAIN_VERSION

acc_opset = Opset(DOMAIN, DOMAIN_VERSION)


@script(acc_opset, default_opset=op)
def AccScore(query: FLOAT, key: FLOAT, mask: INT64, num_heads: int, scale: float):  # noqa: N802 - ONNX op names are CamelCase
    # fp32 whatever the graph's precision (Cast to float is a no-op for float inputs).
    heads = op.Constant(value_int=num_heads)
    split = op.Concat(op.Constant(value_ints=[0, 0]), op.Reshape(heads, op.Constant(value_ints=[1])),
                      op.Constant(value_ints=[-1]), axis=0)  # fmt: skip
    q = op.Transpose(op.Reshape(op.Cast(query, to=1), split), perm=[0, 2, 1, 3])  # [B,H,N,dh]
    k = op.Transpose(op.Reshape(op.Cast(key, to=1), split), perm=[0, 2, 3, 1])  # [B,H,dh,N]
    m = op.Cast(mask, to=1)  # [B,N] 1.0 / 0.0
    # Padded keys get −FLT_MAX added, as eager BERT's extended attention mask does.
    bias = op.Unsqueeze(op.Mul(op.Sub(op.Constant(value_float=1.0), m), op.Constant(value_float=-3.4028234663852886e38)),
                        op.Constant(value_ints=[1, 2]))  # fmt: skip
    logits = op.Add(op.Mul(op.MatMul(q, k), op.Constant(value_float=scale)), bias)
    probs = op.Softmax(logits, axis=-1)
    # Σ_i m_i · P[h, i, j]: a row-vector × matrix MatMul per head, then Σ over heads (as acc.modeling.score).
    column = op.ReduceSum(op.MatMul(op.Unsqueeze(m, op.Constant(value_ints=[1, 2])), probs),
                          op.Constant(value_ints=[1, 2]), keepdims=0)  # fmt: skip
    n_valid = op.Max(op.ReduceSum(m, op.Constant(value_ints=[1]), keepdims=1), op.Constant(value_float=1.0))
    score = op.Div(column, op.Mul(n_valid, op.Cast(heads, to=1)))
    score = op.Where(op.Greater(m, op.Constant(value_float=0.0)), score, op.Constant(value_float=float("-inf")))
    seq_len = op.Squeeze(op.Shape(mask, start=1, end=2))
    first = op.Equal(op.Range(op.Constant(value_int=0), seq_len, op.Constant(value_int=1)), op.Constant(value_int=0))
    return op.Where(op.Unsqueeze(first, op.Constant(value_ints=[0])), op.Constant(value_float=float("inf")), score)
