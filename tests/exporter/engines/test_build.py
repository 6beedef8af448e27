"""exporter/engines/build.py: ``build_engines`` over staged tiny4 graphs with ``fake_trt`` (NOT TensorRT).

Real builds of every graph (TensorRT-RTX, ahead of time on CPU) are in test_rtx_aot.py. The fakes here pin what
no real build can show on this GPU-less machine: full TensorRT (not installable here) with its shared timing
cache and TF32 flags, TensorRT-RTX on an H100 (a GPU it cannot target), and failure cleanup.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acc.exporter.engines import ShapeRanges, build_engines, engine_target, parse_engine_file_name
from acc.profiles import EngineBuildError


def test_one_engine_per_graph_and_precision(fake_trt, staged: Path) -> None:  # noqa: ANN001
    fake_trt(device_cc="sm87")
    messages: list[str] = []
    shapes = ShapeRanges((1, 2, 4), (8, 32, 64))
    records = build_engines(staged, ["flat", "adjustable"], ("fp16", "fp32"), shapes, messages.append)
    names = [r.file for r in records]
    assert names == [
        "engines/flat.tensorrt.sm87.fp16.engine", "engines/flat.tensorrt.sm87.fp32.engine",
        "engines/adjustable.tensorrt.sm87.fp16.engine", "engines/adjustable.tensorrt.sm87.fp32.engine",
    ]  # fmt: skip
    assert messages == [f"building tensorrt engine {name}" for name in names]
    assert sorted(p.name for p in (staged / "engines").iterdir()) == sorted(Path(n).name for n in names)
    assert not [p for p in staged.rglob("*") if "cache" in p.name]  # the timing cache stays out of the bundle
    for record in records:
        assert parse_engine_file_name(record.file) == (record.profile, "tensorrt", "sm87", record.precision)
        assert record.trt_version == "10.3.0" and record.shapes == shapes.to_dict() and record.network_layers > 0
    plans = [json.loads((staged / n).read_bytes()) for n in names]
    assert [p["timing_cache_in"] for p in plans] == ["", "+", "++", "+++"]  # one cache shared by every build
    assert [("FP16" in p["flags"], "TF32" in p["flags"]) for p in plans] == [(False, True), (False, False)] * 2


def test_rtx_on_an_h100_builds_for_the_resolved_target(fake_trt, staged: Path, tmp_path: Path) -> None:  # noqa: ANN001
    fake_trt(rtx=True, device_cc="sm90")
    target = engine_target("sm89")
    cache = tmp_path / "keep" / "timing.cache"
    records = build_engines(staged, ["flat"], ["fp16"], target=target, timing_cache=cache)
    assert [r.file for r in records] == ["engines/flat.tensorrt-rtx.sm89.fp16.engine"]
    assert records[0].backend == "tensorrt-rtx" and records[0].compute_capability == "sm89"
    plan = json.loads((staged / records[0].file).read_bytes())
    assert plan["targets"] == {"0": "SM89"}
    assert plan["timing_cache_in"] is None and not cache.exists()  # a no-op in TensorRT-RTX: none is made
    with pytest.raises(EngineBuildError, match="cannot target this GPU's sm90"):
        build_engines(staged, ["flat"], ["fp16"])


def test_bad_requests_fail_before_building(fake_trt, staged: Path) -> None:  # noqa: ANN001
    fake_trt()
    with pytest.raises(EngineBuildError, match=r"for \['s9'\]; export them first"):
        build_engines(staged, ["flat", "s9"])
    with pytest.raises(EngineBuildError, match="no graphs"):
        build_engines(staged, [])
    with pytest.raises(EngineBuildError, match="takes fp16 and/or fp32"):
        build_engines(staged, ["flat"], ["int8"])
    assert not (staged / "engines").exists()


def test_without_tensorrt_nothing_is_built(no_trt: None, staged: Path) -> None:
    with pytest.raises(EngineBuildError, match="^no TensorRT found"):
        build_engines(staged, ["flat"])
    assert not (staged / "engines").exists()


def _no_builder_reason() -> str | None:
    from acc.profiles import AccError
    from acc.runtime.trt_flavour import visible_compute_capability

    if visible_compute_capability() is None:
        return "needs a CUDA GPU to build for (none visible; CPU-only builds are test_rtx_aot.py's)"
    try:
        engine_target()
    except AccError as exc:
        return f"needs TensorRT and a GPU it can build for: {exc}"
    return None


@pytest.mark.trt
@pytest.mark.skipif(_no_builder_reason() is not None, reason=str(_no_builder_reason()))
def test_real_tensorrt_builds_the_tiny_graphs(staged: Path) -> None:
    """Real TensorRT on a GPU it can build for: the inlined graphs parse and build, fp16 and fp32."""
    records = build_engines(staged, ["flat", "adjustable"], ["fp16", "fp32"], ShapeRanges((1, 2, 4), (8, 32, 64)))
    assert len(records) == 4
    for record in records:
        assert (staged / record.file).stat().st_size > 1000 and record.network_layers > 0
