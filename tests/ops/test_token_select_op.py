"""``ai.acc::TokenSelect``: the library's kernel logic against the op's function body, token for token.

The CUDA kernel cannot run here, so the library also carries a CPU kernel built from the same code
(``cpp/ops/src/token_select_logic.h``: float32 keep counts, TopK order with ties to the lower index, kept-then-filler
slots); a CPU-only build registers it only when ``ACC_ORT_OPS_CPU_TOKENSELECT`` is set (``count``: ranks counted per
position as the CUDA kernel does). These tests compare it with the inlined body (ORT's TopK/GatherElements) on random
inputs with ties, padding, holes, all-padding rows and K edge cases; which implementation ran is read from ORT's
profile. Without the switch the body keeps running on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from acc.exporter.export import attach_token_select
from acc.modeling.select import select_tokens
from acc.profiles import keep_count

CPU_SWITCH = "ACC_ORT_OPS_CPU_TOKENSELECT"
INPUTS = ("hidden", "mask", "positions", "score", "n_valid", "ratio", "min_keep", "padded_len")
OUTPUTS = ("hidden_out", "mask_out", "positions_out")


def token_select_model(onnx_type: int) -> onnx.ModelProto:
    """One TokenSelect node over graph inputs, with the function body attached (as exported graphs carry it)."""
    vi = helper.make_tensor_value_info
    inputs = [vi("hidden", onnx_type, ["B", "N", "D"]), vi("mask", TensorProto.INT64, ["B", "N"]),
              vi("positions", TensorProto.INT64, ["B", "N"]), vi("score", TensorProto.FLOAT, ["B", "N"]),
              vi("n_valid", TensorProto.INT64, ["B"]), vi("ratio", TensorProto.FLOAT, []), vi("min_keep", TensorProto.INT64, []),
              vi("padded_len", TensorProto.INT64, [])]  # fmt: skip
    outputs = [vi(name, onnx_type if name == "hidden_out" else TensorProto.INT64, None) for name in OUTPUTS]
    node = helper.make_node("TokenSelect", list(INPUTS), list(OUTPUTS), domain="ai.acc")
    model = helper.make_model(helper.make_graph([node], "select", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 18)], ir_version=9)  # fmt: skip
    attach_token_select(model)
    return model


def feeds_for(batch: int, length: int, width: int, dtype: type, ratio: float, min_keep: int, seed: int,
              ties: bool = True) -> dict[str, np.ndarray]:  # fmt: skip
    """Scores as AccScore gives them (−inf on padding, +inf at [CLS]) with many exact ties; right padding and holes;
    n_valid at or above the current count (layers after an earlier selection), padded_len at or above n_valid."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), np.int64)
    for b in range(batch):
        mask[b, rng.integers(1, length + 1) :] = 0
    mask[rng.random((batch, length)) < 0.1] = 0
    mask[:, 0] = 1
    if batch > 2:
        mask[-1] = 0  # an all-padding sample: k = 0, only filler slots
    score = (rng.integers(0, 6, (batch, length)) / 4 if ties else rng.random((batch, length))).astype(np.float32)
    score[mask == 0] = -np.inf
    score[:, 0] = np.where(mask[:, 0] == 1, np.inf, -np.inf)
    score[rng.random((batch, length)) < 0.05] *= -1  # −0.0 next to +0.0 must tie too
    n_valid = mask.sum(1) + rng.integers(0, 4, batch)
    return {"hidden": rng.standard_normal((batch, length, width)).astype(dtype), "mask": mask,
            "positions": np.tile(np.arange(length, dtype=np.int64), (batch, 1)) + 1000 * np.arange(batch)[:, None],
            "score": score, "n_valid": n_valid.astype(np.int64), "ratio": np.array(ratio, np.float32),
            "min_keep": np.array(min_keep, np.int64),
            "padded_len": np.array(n_valid.max() + rng.integers(0, 3), np.int64)}  # fmt: skip


def run(model: onnx.ModelProto, feeds: dict, tmp_path: Path, library: Path | None) -> tuple[list, set]:
    """(outputs, {(op, provider)} executed) of a CPU session, with or without the library."""
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "profile")
    if library is not None:
        options.register_custom_ops_library(str(library))
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    events = json.loads(Path(session.end_profiling()).read_text())
    return outputs, {(e["args"].get("op_name"), e["args"].get("provider")) for e in events if e.get("cat") == "Node"}


@pytest.fixture(params=["1", "count"], ids=["sort-ranks", "counted-ranks"])
def kernel_library(ops_library: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """The CPU build, registered with its TokenSelect kernel (the switch is read at registration): ranks from a sort,
    or counted per position exactly as the CUDA rank kernel does (``count``, read when ORT creates the kernel)."""
    monkeypatch.setenv(CPU_SWITCH, request.param)
    return ops_library


CASES = [  # (B, N, D, ratio, min_keep): B=1, N off powers of two, ratios whose f32 product sits near an integer
    (1, 7, 8, 0.5, 1), (1, 1, 4, 0.3, 1), (4, 77, 16, 0.7, 1), (5, 128, 12, 0.35, 3), (3, 50, 8, 1.0, 1),
    (6, 33, 8, 0.1, 5), (2, 300, 4, 0.9, 1),
]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["fp32", "fp16"])
@pytest.mark.parametrize("case", CASES, ids=[f"B{c[0]}-N{c[1]}-r{c[3]}" for c in CASES])
def test_kernel_equals_function_body(kernel_library: Path, case, dtype, tmp_path: Path) -> None:
    batch, length, width, ratio, min_keep = case
    model = token_select_model(TensorProto.FLOAT16 if dtype == np.float16 else TensorProto.FLOAT)
    for seed, ties in ((0, True), (1, False)):
        feeds = feeds_for(batch, length, width, dtype, ratio, min_keep, seed=length + seed, ties=ties)
        body, body_ran = run(model, feeds, tmp_path, library=None)
        kernel, kernel_ran = run(model, feeds, tmp_path, library=kernel_library)
        assert ("TopK", "CPUExecutionProvider") in body_ran
        assert kernel_ran == {("TokenSelect", "CPUExecutionProvider")}, kernel_ran
        for name, expected, actual in zip(OUTPUTS, body, kernel):
            assert actual.dtype == expected.dtype and actual.shape == expected.shape, name
            np.testing.assert_array_equal(actual, expected, err_msg=f"{name} (seed {seed}, ties {ties})")


def test_kernel_equals_pytorch_reference(kernel_library: Path, tmp_path: Path) -> None:
    """Kept slots equal select_tokens'; filler slots are not compared (torch.topk orders tied −inf arbitrarily)."""
    feeds = feeds_for(6, 64, 8, np.float32, 0.45, 2, seed=3, ties=False)
    (hidden, mask, positions), _ = run(token_select_model(TensorProto.FLOAT), feeds, tmp_path, kernel_library)
    t = {name: torch.from_numpy(value) for name, value in feeds.items()}
    expected = select_tokens(
        t["hidden"], t["mask"], t["positions"], t["score"], t["n_valid"], t["ratio"], 2, t["padded_len"]
    )
    np.testing.assert_array_equal(mask, expected.mask.numpy())
    kept = mask == 1
    np.testing.assert_array_equal(positions[kept], expected.positions.numpy()[kept])
    np.testing.assert_array_equal(hidden[kept], expected.hidden.numpy()[kept])


@pytest.mark.parametrize("ratio,min_keep,n_valid", [(0.0, 0, None), (0.5, -3, -4), (-0.5, 1, None)],
                         ids=["K=0", "negative-k-next-to-positive", "negative-ratio"])  # fmt: skip
def test_keep_count_edges_equal_the_body(kernel_library: Path, ratio: float, min_keep: int, n_valid: int | None,
                                         tmp_path: Path) -> None:  # fmt: skip
    """K = 0 (empty outputs); k_b < 0 for some samples (only fillers) next to positive ones; min_keep taking over."""
    model = token_select_model(TensorProto.FLOAT)
    feeds = feeds_for(4, 20, 4, np.float32, ratio, min_keep, seed=9)
    if n_valid is not None:
        feeds["n_valid"][:2] = n_valid  # ceil(0.5 · -4) = -2 > min_keep: k = -2
    body, _ = run(model, feeds, tmp_path, library=None)
    kernel, ran = run(model, feeds, tmp_path, library=kernel_library)
    assert ran == {("TokenSelect", "CPUExecutionProvider")}
    for name, expected, actual in zip(OUTPUTS, body, kernel):
        assert actual.shape == expected.shape, name
        np.testing.assert_array_equal(actual, expected, err_msg=name)
    if ratio == 0.0:
        assert kernel[0].shape == (4, 0, 4)
    if n_valid is not None:
        assert kernel[1].shape[1] > 0 and not kernel[1][:2].any()


def test_impossible_keep_counts_are_one_line_errors(kernel_library: Path, tmp_path: Path) -> None:
    model = token_select_model(TensorProto.FLOAT)
    feeds = feeds_for(2, 10, 4, np.float32, -1.0, -2, seed=1)  # K = max(ceil(-padded_len), -2) = -2
    with pytest.raises(Exception, match=r"TokenSelect: the output width is negative \(K = -2\)"):
        run(model, feeds, tmp_path, kernel_library)
    # (K can no longer exceed N: the static width is clamped to N, and rows keep at most K, as in the body)
    feeds = feeds_for(2, 10, 4, np.float32, 0.5, 1, seed=1)
    feeds["n_valid"] = np.array([3, 4, 5], np.int64)
    with pytest.raises(Exception, match=r"TokenSelect: n_valid \[3\] must be \[B\] of hidden \[2, 10, 4\]"):
        run(model, feeds, tmp_path, kernel_library)


def test_without_the_switch_the_body_runs(ops_library: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Default registration: TokenSelect has no CPU kernel, so ORT inlines the body even with the library loaded."""
    monkeypatch.delenv(CPU_SWITCH, raising=False)
    feeds = feeds_for(3, 40, 8, np.float32, 0.5, 1, seed=2)
    outputs, ran = run(token_select_model(TensorProto.FLOAT), feeds, tmp_path, ops_library)
    assert ("TopK", "CPUExecutionProvider") in ran and ("TokenSelect", "CPUExecutionProvider") not in ran
    width = keep_count(0.5, int(feeds["padded_len"]), 40, 1)  # the static width, from the padded length
    assert outputs[0].shape[1] == outputs[1].shape[1] == width >= int(outputs[1].sum(1).max())
