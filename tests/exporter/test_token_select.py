"""exporter/token_select.py: the ONNX function ``ai.acc::TokenSelect`` alone, run by ONNX Runtime, against the
PyTorch reference ``acc.modeling.select.select_tokens`` and a plain-Python expectation, function and inlined.

Inputs follow the model's conventions: padding at the end of each row (mask 0, score −inf), slot 0 is [CLS]
(score +inf), the other scores distinct. Filler slots (mask 0 in the output) may hold any padding vector: which
−inf slot TopK returns among ties is not part of the contract, so positions and hidden states are compared on the
kept slots, and the mask everywhere.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import onnx
import onnx.inliner
import pytest
import torch
from onnx import TensorProto, helper

from acc.exporter.token_select import DOMAIN, DOMAIN_VERSION, FUNCTION_NAME, OPSET, token_select_function
from acc.modeling.select import select_tokens
from acc.profiles import keep_count

INPUTS = ("hidden", "mask", "positions", "score", "n_valid", "ratio", "min_keep", "padded_len")
OUTPUTS = ("hidden_out", "mask_out", "positions_out")
HIDDEN = 5


def _model_calling_token_select() -> onnx.ModelProto:
    """One ``ai.acc::TokenSelect`` node between graph inputs and outputs, with the function attached."""
    inputs = [
        helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["B", "N", "D"]),
        helper.make_tensor_value_info("mask", TensorProto.INT64, ["B", "N"]),
        helper.make_tensor_value_info("positions", TensorProto.INT64, ["B", "N"]),
        helper.make_tensor_value_info("score", TensorProto.FLOAT, ["B", "N"]),
        helper.make_tensor_value_info("n_valid", TensorProto.INT64, ["B"]),
        helper.make_tensor_value_info("ratio", TensorProto.FLOAT, []),
        helper.make_tensor_value_info("min_keep", TensorProto.INT64, []),
        helper.make_tensor_value_info("padded_len", TensorProto.INT64, []),
    ]
    outputs = [
        helper.make_tensor_value_info("hidden_out", TensorProto.FLOAT, ["B", "K", "D"]),
        helper.make_tensor_value_info("mask_out", TensorProto.INT64, ["B", "K"]),
        helper.make_tensor_value_info("positions_out", TensorProto.INT64, ["B", "K"]),
    ]
    node = helper.make_node(FUNCTION_NAME, list(INPUTS), list(OUTPUTS), domain=DOMAIN, name="select")
    graph = helper.make_graph([node], "token_select_alone", inputs, outputs)
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(DOMAIN, DOMAIN_VERSION)]
    return helper.make_model(graph, opset_imports=opsets, functions=[token_select_function()], ir_version=10)


def _session(proto: onnx.ModelProto) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def function_model() -> onnx.ModelProto:
    return _model_calling_token_select()


@pytest.fixture(scope="module")
def sessions(function_model: onnx.ModelProto) -> dict[str, Any]:
    inlined = onnx.inliner.inline_local_functions(function_model)
    return {"function": _session(function_model), "inlined": _session(inlined)}


def _case(batch: int, seq_len: int, ratio: float, min_keep: int, later: bool, seed: int) -> dict[str, np.ndarray]:
    """Random TokenSelect inputs. ``later``: as before a later layer (rows already cut: n_valid > valid slots,
    positions an increasing subset of a longer input); otherwise as before the first selection."""
    rng = np.random.default_rng(seed)
    valid = rng.integers(1, seq_len + 1, size=batch)
    valid[0] = seq_len  # one full row, so the padded length is really seq_len
    if batch > 1:
        valid[1] = 1  # all padding but [CLS]
    mask = (np.arange(seq_len)[None, :] < valid[:, None]).astype(np.int64)
    padded_len = seq_len
    if later:
        padded_len = 4 * seq_len + 1  # the original input: positions come from it, n_valid is at most its length
        n_valid = valid + rng.integers(0, 3 * seq_len + 1, size=batch)
        positions = np.stack([np.sort(rng.choice(3 * seq_len + 1, size=seq_len, replace=False)) for _ in range(batch)])
        positions[:, 0] = 0  # [CLS] is never dropped, so it is always slot 0
    else:
        n_valid = valid.copy()
        positions = np.tile(np.arange(seq_len), (batch, 1))
    score = rng.permutation(batch * seq_len).reshape(batch, seq_len).astype(np.float32) / 7.0  # distinct values
    score = np.where(mask > 0, score, -np.inf).astype(np.float32)
    score[:, 0] = np.inf
    return {
        "hidden": rng.standard_normal((batch, seq_len, HIDDEN)).astype(np.float32),
        "mask": mask,
        "positions": positions.astype(np.int64),
        "score": score,
        "n_valid": n_valid.astype(np.int64),
        "ratio": np.asarray(ratio, dtype=np.float32),
        "min_keep": np.asarray(min_keep, dtype=np.int64),
        "padded_len": np.asarray(padded_len, dtype=np.int64),
    }


def _expected_kept(feeds: dict[str, np.ndarray]) -> list[list[int]]:
    """Per row, the slots the contract keeps: the k highest scores, k = keep_count(...), in slot order."""
    kept = []
    for row in range(len(feeds["mask"])):
        n_current = int(feeds["mask"][row].sum())
        k = keep_count(float(feeds["ratio"]), int(feeds["n_valid"][row]), n_current, int(feeds["min_keep"]))
        kept.append(sorted(np.argsort(-feeds["score"][row], kind="stable")[:k].tolist()))
    return kept


def _torch_select(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tensors = [torch.from_numpy(np.asarray(feeds[name])) for name in INPUTS[:-2]]
    selection = select_tokens(*tensors, min_keep=int(feeds["min_keep"]), padded_len=int(feeds["padded_len"]))
    return {"hidden_out": selection.hidden.numpy(), "mask_out": selection.mask.numpy(),
            "positions_out": selection.positions.numpy()}  # fmt: skip


def _run(session: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return dict(zip(OUTPUTS, session.run(list(OUTPUTS), feeds)))


def test_function_is_a_checked_local_function_in_ai_acc(function_model: onnx.ModelProto) -> None:
    function = token_select_function()
    assert (function.domain, function.name) == (DOMAIN, FUNCTION_NAME) == ("ai.acc", "TokenSelect")
    assert tuple(function.input) == INPUTS and tuple(function.output) == OUTPUTS
    assert {entry.domain: entry.version for entry in function.opset_import} == {"": OPSET}
    onnx.checker.check_model(function_model, full_check=True)
    inlined = onnx.inliner.inline_local_functions(function_model)
    assert len(inlined.functions) == 0 and not any(node.domain == DOMAIN for node in inlined.graph.node)
    onnx.checker.check_model(inlined, full_check=True)


@pytest.mark.parametrize(("batch", "seq_len"), list(itertools.product((1, 2, 5), (1, 2, 7, 40))))
@pytest.mark.parametrize(("ratio", "min_keep"), [(0.05, 1), (0.3, 1), (0.5, 2), (0.77, 1), (1.0, 1), (0.1, 4)])
@pytest.mark.parametrize("later", [False, True], ids=["first", "later"])
def test_onnx_function_matches_select_tokens(
    sessions: dict[str, Any], batch: int, seq_len: int, ratio: float, min_keep: int, later: bool
) -> None:
    seed = batch * 100_003 + seq_len * 1_009 + int(ratio * 100) * 11 + min_keep * 3 + later
    feeds = _case(batch, seq_len, ratio, min_keep, later, seed)
    expected = _expected_kept(feeds)
    reference = _torch_select(feeds)
    function = _run(sessions["function"], feeds)
    inlined = _run(sessions["inlined"], feeds)

    # The static width: a full-length sample's keep count, from the padded length alone; at least every row's count.
    k_max = keep_count(ratio, int(feeds["padded_len"]), seq_len, min_keep)
    assert k_max >= max(len(slots) for slots in expected)
    for outputs in (reference, function):
        assert outputs["hidden_out"].shape == (batch, k_max, HIDDEN)
        assert outputs["mask_out"].shape == outputs["positions_out"].shape == (batch, k_max)
        assert outputs["mask_out"].dtype == outputs["positions_out"].dtype == np.int64
    np.testing.assert_array_equal(function["mask_out"], reference["mask_out"])
    for row, slots in enumerate(expected):
        keep = reference["mask_out"][row] > 0
        assert keep.tolist() == [True] * len(slots) + [False] * (k_max - len(slots)), f"row {row}: kept slots first"
        want = feeds["positions"][row, slots]
        np.testing.assert_array_equal(reference["positions_out"][row, keep], want, err_msg=f"torch row {row}")
        np.testing.assert_array_equal(function["positions_out"][row, keep], want, err_msg=f"onnx row {row}")
        np.testing.assert_array_equal(function["hidden_out"][row, keep], feeds["hidden"][row, slots])
        np.testing.assert_array_equal(reference["hidden_out"][row, keep], feeds["hidden"][row, slots])
    for name in OUTPUTS:  # the inlined body is the same ops, so even filler slots agree
        np.testing.assert_array_equal(inlined[name], function[name], err_msg=name)


def test_ratio_one_keeps_every_valid_slot_in_order(sessions: dict[str, Any]) -> None:
    feeds = _case(4, 9, 1.0, 1, later=False, seed=3)
    out = _run(sessions["function"], feeds)
    valid = feeds["mask"].sum(axis=1)
    assert out["mask_out"].sum(axis=1).tolist() == valid.tolist()
    for row, n in enumerate(valid):
        assert out["positions_out"][row, :n].tolist() == list(range(n))


def test_keep_count_uses_float32_arithmetic_like_the_reference(sessions: dict[str, Any]) -> None:
    """k = ceil(ratio · n) with a float32 product. For ratio 0.6: n = 5 gives 3.0 in float32 (k 3) but 3.0000001 with
    float32(0.6) multiplied in float64 (k 4); n = 25 gives 15.000001 in float32 (k 16) but 15.0 in float64 (k 15)."""
    ratio, seq_len = 0.6, 300
    lengths = np.arange(1, seq_len + 1)
    base = _case(1, seq_len, ratio, 1, later=False, seed=0)
    feeds = {**base, "mask": np.ones((len(lengths), seq_len), np.int64), "n_valid": lengths.astype(np.int64),
             "hidden": np.zeros((len(lengths), seq_len, HIDDEN), np.float32),
             "positions": np.tile(np.arange(seq_len), (len(lengths), 1)),
             "score": np.tile(base["score"], (len(lengths), 1))}  # fmt: skip
    counts = _run(sessions["function"], feeds)["mask_out"].sum(axis=1).tolist()
    assert counts == [keep_count(ratio, int(n), seq_len) for n in lengths]
    assert counts == _torch_select(feeds)["mask_out"].sum(axis=1).tolist()
    assert counts[4] == 3 and counts[24] == 16
    assert counts != [math.ceil(ratio * n) for n in lengths]  # the case is sensitive to the arithmetic
