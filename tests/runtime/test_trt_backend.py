"""runtime/trt_backend.py: the compatibility checks (pure, CPU) and, with real TensorRT only, one engine run.

A mismatch must be refused before TensorRT sees the file, in one line naming both values and the fix.
"""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from acc.profiles import AccError, BundleError, DataError, EngineBuildError
from acc.runtime import EngineEntry
from acc.runtime.trt_backend import (
    EngineMismatchError,
    TrtBackend,
    check_compute_capability,
    check_engine_compatible,
    check_input_shape,
    check_trt_version,
    trt_release,
)

ENTRY = EngineEntry("s1.5", "tensorrt", "sm87", "fp16", "engines/s1.5.tensorrt.sm87.fp16.engine", "10.3.0.30")
FIX = "rebuild it with `acc-export --engine trt` on this device"


def _one_line(info: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


def test_trt_release() -> None:
    assert trt_release("10.3.0.30") == (10, 3, 0) == trt_release("10.3.0")
    assert trt_release("1.7.1.116") == (1, 7, 1) and trt_release("unknown") == ()


def test_matching_engine_passes() -> None:
    check_engine_compatible(ENTRY, backend="tensorrt", trt_version="10.3.0", device_cc="8.7")
    check_engine_compatible(ENTRY, backend="tensorrt", trt_version="10.3.0.26", device_cc="sm_87")


def test_compute_capability_mismatch_names_both_and_the_fix() -> None:
    with pytest.raises(EngineMismatchError) as info:
        check_compute_capability(ENTRY, "sm90")
    assert _one_line(info) == f"engine {ENTRY.file} was built for sm87, this GPU is sm90; {FIX}"
    assert isinstance(info.value, EngineBuildError)


def test_version_mismatch_names_both_and_the_fix() -> None:
    with pytest.raises(EngineMismatchError) as info:
        check_trt_version(ENTRY, "10.7.0.23")
    message = _one_line(info)
    assert "built with tensorrt 10.3.0.30, this is 10.7.0.23" in message and message.endswith(FIX)
    with pytest.raises(EngineMismatchError, match="does not record its TensorRT version"):
        check_trt_version(EngineEntry("d", "tensorrt", "sm87", "fp16", "engines/d.engine"), "10.3.0")


def test_flavour_mismatch_is_checked_first() -> None:
    rtx_entry = EngineEntry("s1.5", "tensorrt-rtx", "sm89", "fp16", "engines/x.engine", "1.7.1.116")
    with pytest.raises(EngineMismatchError) as info:  # versions of two flavours are not comparable
        check_engine_compatible(rtx_entry, backend="tensorrt", trt_version="10.3.0", device_cc="sm90")
    assert "built by tensorrt-rtx, but this runtime has tensorrt" in _one_line(info)


def test_input_shape_must_fit_the_profile() -> None:
    check_input_shape("input_ids", (8, 128), (1, 16), (32, 512))
    for shape in ((64, 128), (8, 8), (8,), (8, 600)):
        with pytest.raises(DataError) as info:
            check_input_shape("input_ids", shape, (1, 16), (32, 512))
        assert "outside the engine's range [1, 16]..[32, 512]" in _one_line(info)


def _fake_trt(name: str, version: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__version__ = version
    module.Builder = object  # enough for trt_module(); the checks run before anything else is used
    return module


def test_backend_refuses_a_foreign_engine_before_reading_it(tmp_path: Path) -> None:
    missing = tmp_path / "never-read.engine"
    with pytest.raises(EngineMismatchError, match="built for sm87, this GPU is sm90"):
        TrtBackend(missing, ENTRY, device_cc="sm90", trt=_fake_trt("tensorrt", "10.3.0"))
    with pytest.raises(EngineMismatchError, match="this is 8.6.2"):
        TrtBackend(missing, ENTRY, device_cc="sm87", trt=_fake_trt("tensorrt", "8.6.2"))
    with pytest.raises(EngineMismatchError, match="but this runtime has tensorrt-rtx"):
        TrtBackend(missing, ENTRY, device_cc="sm87", trt=_fake_trt("tensorrt_rtx_bindings", "1.7.1.116"))
    with pytest.raises(BundleError, match="engine file .* is missing"):
        TrtBackend(missing, ENTRY, device_cc="sm87", trt=_fake_trt("tensorrt", "10.3.0"))


# ------------------------------------------------------------------------------- real TensorRT (skipped here)


def _no_trt_reason() -> str | None:
    """Why engines cannot be built and run here (no TensorRT, no GPU, TensorRT-RTX on an sm90 GPU), or None."""
    from acc.exporter.engines import engine_target
    from acc.runtime.trt_flavour import visible_compute_capability

    if visible_compute_capability() is None:
        return "needs a CUDA GPU to run engines on (none visible here)"
    try:
        engine_target()
    except AccError as exc:
        return f"needs TensorRT that can run engines: {exc}"
    return None


@pytest.mark.trt
@pytest.mark.skipif(_no_trt_reason() is not None, reason=str(_no_trt_reason()))
def test_engine_logits_match_onnx_runtime(tiny_bundle: Path, tmp_path: Path) -> None:
    """Build an fp32 engine of the tiny s1.5 graph on this GPU and compare its logits with ORT on CPU."""
    from acc.exporter.engines import build_engines
    from acc.runtime import OrtBackend

    staging = tmp_path / "staging"
    (staging / "graphs").mkdir(parents=True)
    for name in ("s1.5.onnx", "weights.bin"):
        (staging / "graphs" / name).write_bytes((tiny_bundle / "graphs" / name).read_bytes())
    (record,) = build_engines(staging, ["s1.5"], ["fp32"])
    backend = TrtBackend(staging / record.file, record)
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, size=(4, 32)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[2:, 20:] = 0
    feeds = {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    expected = OrtBackend(tiny_bundle / "graphs" / "s1.5.onnx").infer(feeds)["logits"]
    got = backend.infer(feeds)["logits"]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3)
