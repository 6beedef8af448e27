"""exporter/engines/loaders.py against ``fake_trt`` (a recorder of TensorRT API calls, NOT TensorRT).

These pin what our loaders ask of the builder where a real build cannot show it here: the optimization profile
and flags inside a plan (real plans are opaque, and only a GPU could deserialize them), full TensorRT (not
installable here), the CURRENT target and the timing cache (both need a GPU). Parsing, outputs, fp16 graphs and
parser errors run on real TensorRT-RTX in test_rtx_aot.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from fake_trt import FAIL_BUILD

from acc.exporter.engines import EngineFromNetwork, Fp16Onnx, InlinedOnnx, NetworkFromOnnx, SaveEngine, ShapeRanges
from acc.profiles import EngineBuildError

SHAPES = ShapeRanges(batch=(1, 4, 8), seq=(8, 64, 128))


def _plan(built) -> dict:  # noqa: ANN001
    return json.loads(built.data)


def test_loaders_are_lazy(fake_trt: Callable[..., ModuleType], tmp_path: Path) -> None:
    fake_trt()
    engine = SaveEngine(EngineFromNetwork(NetworkFromOnnx(InlinedOnnx(tmp_path / "none.onnx")), "fp32"), tmp_path / "e")
    assert not (tmp_path / "e").exists()  # constructing built nothing (and did not notice the missing graph)
    with pytest.raises(EngineBuildError, match="does not exist"):
        engine()


def test_adjustable_fp32_engine_profile_outputs_and_flags(fake_trt, staged: Path, tmp_path: Path) -> None:  # noqa: ANN001
    trt = fake_trt(device_cc="sm87")
    network = NetworkFromOnnx(InlinedOnnx(staged / "graphs" / "adjustable.onnx"))()
    assert network.trt is trt and network.strongly_typed
    assert network.parser.parsed_path == str(staged / "graphs" / "adjustable.onnx")  # resolves weights.bin
    assert [network.network.get_output(i).name for i in range(network.network.num_outputs)] == ["logits"]

    built = SaveEngine(EngineFromNetwork(network, "fp32", SHAPES), tmp_path / "out" / "a.engine")()
    assert (tmp_path / "out" / "a.engine").read_bytes() == built.data
    assert not list((tmp_path / "out").glob(".*partial"))
    plan = _plan(built)
    expected = [[1, 8], [4, 64], [8, 128]]
    assert plan["profiles"] == [{"input_ids": expected, "attention_mask": expected, "token_type_ids": expected}]
    assert "keep_ratios" not in plan["profiles"][0]  # static [L]: no profile entry needed
    assert plan["flags"] == [] and plan["outputs"] == ["logits"]  # TF32 cleared: fp32 means fp32
    assert plan["network_flags"] == 1 << 5 and plan["targets"] == {}
    assert (built.backend, built.trt_version, built.compute_capability, built.precision) == (
        "tensorrt", "10.3.0", "sm87", "fp32")  # fmt: skip
    assert built.network_layers > 50 and built.shapes == SHAPES and built.build_seconds >= 0


def test_weakly_typed_tensorrt_gets_the_fp16_flag(fake_trt, staged: Path) -> None:  # noqa: ANN001
    fake_trt(strongly_typed=False)
    built = EngineFromNetwork(NetworkFromOnnx(InlinedOnnx(staged / "graphs" / "flat.onnx")), "fp16")()
    plan = _plan(built)
    assert "FP16" in plan["flags"] and plan["network_flags"] == 0


def test_rtx_targets_current_or_explicit(fake_trt, staged: Path) -> None:  # noqa: ANN001
    graph = Fp16Onnx(InlinedOnnx(staged / "graphs" / "flat.onnx"))
    fake_trt(rtx=True, device_cc="sm89")
    built = EngineFromNetwork(NetworkFromOnnx(graph), "fp16")()
    assert _plan(built)["targets"] == {"0": "CURRENT"} and built.compute_capability == "sm89"
    assert built.backend == "tensorrt-rtx" and built.trt_version == "1.7.1.116"

    fake_trt(rtx=True, device_cc="sm90")  # an H100: build for another GPU
    built = EngineFromNetwork(NetworkFromOnnx(graph), "fp16", compute_capability="8.9")()
    assert _plan(built)["targets"] == {"0": "SM89"} and built.compute_capability == "sm89"
    with pytest.raises(EngineBuildError, match="has no target sm90"):
        EngineFromNetwork(NetworkFromOnnx(graph), "fp16")()


def test_full_tensorrt_refuses_another_target(fake_trt, staged: Path) -> None:  # noqa: ANN001
    fake_trt(device_cc="sm87")
    with pytest.raises(EngineBuildError, match=r"only for this GPU \(sm87\), not sm89"):
        EngineFromNetwork(NetworkFromOnnx(InlinedOnnx(staged / "graphs" / "flat.onnx")), "fp32",
                          compute_capability="sm89")()  # fmt: skip


def test_timing_cache_is_read_and_rewritten(fake_trt, staged: Path, tmp_path: Path) -> None:  # noqa: ANN001
    fake_trt()
    cache = tmp_path / "cache" / "timing.cache"
    network = NetworkFromOnnx(InlinedOnnx(staged / "graphs" / "flat.onnx"))
    first = EngineFromNetwork(network, "fp32", timing_cache=cache)()
    second = EngineFromNetwork(network, "fp32", timing_cache=cache)()
    assert _plan(first)["timing_cache_in"] == "" and _plan(second)["timing_cache_in"] == "+"
    assert cache.read_bytes() == b"++"
    assert _plan(EngineFromNetwork(network, "fp32")())["timing_cache_in"] is None  # no cache unless asked


def test_builder_failure_is_one_line(fake_trt, staged: Path, monkeypatch) -> None:  # noqa: ANN001
    """A real builder does not fail on demand for a valid graph; the fake does (parser errors are real: test_rtx_aot)."""
    fake_trt()
    monkeypatch.setitem(FAIL_BUILD, "message", "Error Code 4: out of memory\ntrace")
    with pytest.raises(EngineBuildError) as info:
        EngineFromNetwork(NetworkFromOnnx(InlinedOnnx(staged / "graphs" / "flat.onnx")), "fp32")()
    assert "failed to build flat.onnx (fp32, sm87): Error Code 4: out of memory;" in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_precision_is_refused_at_construction() -> None:
    with pytest.raises(EngineBuildError, match="precision 'int8'"):
        EngineFromNetwork(None, "int8")
