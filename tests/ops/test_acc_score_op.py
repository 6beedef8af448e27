"""``ai.acc::AccScore``: the function body (no library) and our ORT kernel (library registered) against PyTorch.

The reference is ``acc_score_reference`` (eager softmax with −FLT_MAX on padded keys, then ``acc_score``), the
contract of docs/METHOD.md#1-acc-score in fp32. Which implementation ran is read from ORT's profile, not assumed.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from acc.exporter.acc_score import (
    DOMAIN,
    FUNCTION_NAME,
    acc_score_model,
    acc_score_reference,
    attach_acc_score,
    count_acc_score,  # fmt: skip
    traceable_acc_score,
)
from acc.exporter.export import attach_token_select
from acc.runtime.custom_ops import LIBRARY_ENV, CustomOpsError, find_library, register

DTYPES = {"fp32": (TensorProto.FLOAT, np.float32), "fp16": (TensorProto.FLOAT16, np.float16)}


def masks(batch: int, length: int) -> dict[str, np.ndarray]:
    """No padding; right padding of different lengths; holes anywhere (incl. position 0) and an all-padding row."""
    full = np.ones((batch, length), np.int64)
    right = full.copy()
    for b in range(batch):
        right[b, max(1, length - 3 * b - 1) :] = 0
    holes = (np.random.default_rng(1).random((batch, length)) > 0.3).astype(np.int64)
    holes[0, 0] = 0
    holes[-1] = 0
    return {"none": full, "right": right, "holes": holes}


def inputs(shape: tuple[int, int, int], numpy_dtype: type, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape).astype(numpy_dtype) for _ in range(2))  # type: ignore[return-value]


def reference(q: np.ndarray, k: np.ndarray, m: np.ndarray, heads: int, scale: float) -> np.ndarray:
    return acc_score_reference(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(m), heads, scale).numpy()


def assert_score_equal(actual: np.ndarray, expected: np.ndarray, atol: float = 2e-6) -> None:
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(actual[~finite], expected[~finite])  # −inf padding, +inf [CLS], same places
    assert np.isfinite(actual[finite]).all()
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=1e-5, atol=atol)


def run_profiled(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp_path: Path, library: Path | None):
    """(outputs, {(op type, provider)} of the nodes ORT executed)."""
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "profile")
    if library is not None:
        options.register_custom_ops_library(str(library))
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    events = json.loads(Path(session.end_profiling()).read_text())
    executed = {(e["args"].get("op_name"), e["args"].get("provider")) for e in events if e.get("cat") == "Node"}
    return outputs, executed


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_function_body_alone_matches_pytorch(dtype: str, tmp_path: Path) -> None:
    onnx_type, numpy_dtype = DTYPES[dtype]
    model = acc_score_model(onnx_type, 32, 4, 0.35)
    onnx.checker.check_model(model, full_check=True)
    q, k = inputs((4, 19, 32), numpy_dtype)
    for name, m in masks(4, 19).items():
        (score,), executed = run_profiled(model, {"q": q, "k": k, "m": m}, tmp_path, library=None)
        assert_score_equal(score, reference(q, k, m, 4, 0.35))
        assert ("Softmax", "CPUExecutionProvider") in executed, f"{name}: the inlined body should have run: {executed}"


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("shape", [(3, 40, 4, 16), (2, 77, 12, 64)], ids=["small", "bert-base"])
def test_registered_kernel_runs_instead_of_the_body_and_matches(
    ops_library: Path, dtype: str, shape, tmp_path: Path
) -> None:
    batch, length, heads, head_dim = shape
    onnx_type, numpy_dtype = DTYPES[dtype]
    scale = head_dim**-0.5
    model = acc_score_model(onnx_type, heads * head_dim, heads, scale)
    q, k = inputs((batch, length, heads * head_dim), numpy_dtype, seed=length)
    for name, m in masks(batch, length).items():
        (score,), executed = run_profiled(model, {"q": q, "k": k, "m": m}, tmp_path, library=ops_library)
        # ORT prefers the registered kernel to inlining the model-local function: one node, no body ops.
        assert executed == {("AccScore", "CPUExecutionProvider")}, f"{name}: {executed}"
        assert_score_equal(score, reference(q, k, m, heads, scale))


def test_kernel_and_body_give_the_same_ranking(ops_library: Path, tmp_path: Path) -> None:
    """What selection uses: top-k of kernel and body agree (scores equal to fp32 rounding)."""
    model = acc_score_model(TensorProto.FLOAT16, 64, 4, 0.25)
    q, k = inputs((8, 64, 64), np.float16, seed=5)
    m = masks(8, 64)["right"]
    (body,), _ = run_profiled(model, {"q": q, "k": k, "m": m}, tmp_path, library=None)
    (kernel,), _ = run_profiled(model, {"q": q, "k": k, "m": m}, tmp_path, library=ops_library)
    for b in range(8):
        keep = int(m[b].sum()) // 2
        assert set(np.argsort(-body[b], kind="stable")[:keep]) == set(np.argsort(-kernel[b], kind="stable")[:keep])


def test_exported_graph_runs_with_and_without_the_library(ops_library: Path, tmp_path: Path) -> None:
    """traceable_acc_score → one AccScore node with attributes; same output as the module, kernel or body."""

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.project = torch.nn.Linear(32, 64)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            query, key = self.project(x).split(32, dim=-1)
            return traceable_acc_score(query, key, mask, 4, 0.125)

    module = Scorer().eval()
    x, mask = torch.randn(2, 5, 32), torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    path = tmp_path / "scorer.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x, mask), str(path), dynamo=False, opset_version=18, input_names=["x", "mask"],
                          output_names=["score"], dynamic_axes={"x": {0: "B", 1: "N"}, "mask": {0: "B", 1: "N"}},
                          custom_opsets={DOMAIN: 1})  # fmt: skip
    model = onnx.load(str(path))
    attach_acc_score(model)
    attach_acc_score(model)  # idempotent
    assert count_acc_score(model) == 1 and len(model.functions) == 1
    node = next(n for n in model.graph.node if n.op_type == FUNCTION_NAME)
    assert {a.name: helper.get_attribute_value(a) for a in node.attribute} == {"num_heads": 4, "scale": 0.125}
    x2, mask2 = torch.randn(3, 11, 32), torch.ones(3, 11, dtype=torch.long)
    mask2[1, 6:] = 0
    expected = module(x2, mask2).detach().numpy()
    for library in (None, ops_library):
        (score,), _ = run_profiled(model, {"x": x2.numpy(), "mask": mask2.numpy()}, tmp_path, library)
        assert_score_equal(score, expected, atol=1e-5)


def test_token_select_still_inlines_next_to_the_kernel(ops_library: Path, tmp_path: Path) -> None:
    """Registering the ai.acc domain must not hide the other ai.acc local function (TokenSelect)."""
    vi = helper.make_tensor_value_info
    nodes = [
        helper.make_node(FUNCTION_NAME, ["q", "k", "m"], ["s"], domain=DOMAIN, num_heads=2, scale=0.5),
        helper.make_node(
            "TokenSelect", ["q", "m", "pos", "s", "nv", "ratio", "mk", "n"], ["h", "m2", "p2"], domain=DOMAIN
        ),
    ]
    graph = helper.make_graph(nodes, "g", [vi("q", TensorProto.FLOAT, ["B", "N", 8]), vi("k", TensorProto.FLOAT, ["B", "N", 8]),
                              vi("m", TensorProto.INT64, ["B", "N"]), vi("pos", TensorProto.INT64, ["B", "N"]),
                              vi("nv", TensorProto.INT64, ["B"]), vi("ratio", TensorProto.FLOAT, []), vi("mk", TensorProto.INT64, []),
                              vi("n", TensorProto.INT64, [])],
                              [vi("h", TensorProto.FLOAT, None), vi("p2", TensorProto.INT64, None)])  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    attach_acc_score(model)
    attach_token_select(model)
    q, k = inputs((2, 10, 8), np.float32)
    feeds = {"q": q, "k": k, "m": np.ones((2, 10), np.int64), "pos": np.tile(np.arange(10), (2, 1)),
             "nv": np.full(2, 10), "ratio": np.array(0.5, np.float32), "mk": np.array(1), "n": np.array(10)}  # fmt: skip
    (hidden, positions), executed = run_profiled(model, feeds, tmp_path, ops_library)
    assert ("AccScore", "CPUExecutionProvider") in executed and ("TopK", "CPUExecutionProvider") in executed
    score = reference(q, k, feeds["m"], 2, 0.5)
    expected = np.sort(np.argsort(-score, axis=1, kind="stable")[:, :5], axis=1)
    np.testing.assert_array_equal(positions, expected)
    assert hidden.shape == (2, 5, 8)


def test_kernel_rejects_a_broken_call_in_one_line(ops_library: Path, tmp_path: Path) -> None:
    model = acc_score_model(TensorProto.FLOAT, 30, 4, 1.0)  # 30 is not a multiple of 4 heads
    options = ort.SessionOptions()
    options.register_custom_ops_library(str(ops_library))
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    q, k = inputs((1, 3, 30), np.float32)
    with pytest.raises(Exception, match="AccScore: query width 30 is not a multiple of num_heads=4"):
        session.run(None, {"q": q, "k": k, "m": np.ones((1, 3), np.int64)})


def test_register_finds_the_cached_build_by_device(
    ops_library: Path, ops_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LIBRARY_ENV, raising=False)
    assert find_library("cpu", cache_dir=ops_cache) == ops_library
    # A CPU-only build is not offered to CUDA sessions (AccScore would run on the CPU between GPU nodes).
    cuda_builds = list((ops_cache / "ops").glob(f"{ops_library.parent.name.rsplit('-', 1)[0]}-cuda-sm*"))
    assert find_library("cuda", cache_dir=ops_cache) == (cuda_builds[0] / ops_library.name if cuda_builds else None)
    monkeypatch.setenv("ACC_CACHE_DIR", str(ops_cache))
    assert register(ort.SessionOptions(), device="cpu") is True
    monkeypatch.setenv("ACC_CACHE_DIR", str(ops_cache / "empty"))
    assert register(ort.SessionOptions(), device="cpu") is False


def test_bad_library_path_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LIBRARY_ENV, str(tmp_path / "missing.so"))
    with pytest.raises(
        CustomOpsError, match=f"^{LIBRARY_ENV}=.*missing.so does not exist; build it with `acc-build-ops`"
    ):
        register(ort.SessionOptions())
    broken = tmp_path / "broken.so"
    broken.write_bytes(b"not a shared object")
    monkeypatch.setenv(LIBRARY_ENV, str(broken))
    with pytest.raises(
        CustomOpsError, match="cannot load the custom-op library .*broken.so .*rebuild it with `acc-build-ops`"
    ):
        register(ort.SessionOptions())
