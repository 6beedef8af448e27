"""runtime/trt_flavour.py and exporter/engines/flavour.py: finding TensorRT, compute capabilities, build targets."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from collections.abc import Callable

import pytest
from fake_trt import make_fake_trt

from acc.exporter.engines.flavour import resolve_target, rtx_targets
from acc.profiles import EngineBuildError
from acc.runtime import trt_flavour as flavour
from acc.runtime.trt_flavour import NO_TENSORRT, backend_name, parse_cc, trt_module


def test_no_tensorrt_is_one_line_with_the_fix(no_trt: None) -> None:
    with pytest.raises(EngineBuildError) as info:
        trt_module()
    assert str(info.value) == NO_TENSORRT
    assert "pip install 'acc-deploy[trt]'" in NO_TENSORRT and "JetPack" in NO_TENSORRT


def test_stub_tensorrt_without_builder_counts_as_absent(no_trt: None, monkeypatch: pytest.MonkeyPatch) -> None:
    stub = types.ModuleType("tensorrt")  # PyPI's placeholder package: imports, has no Builder
    stub.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    monkeypatch.setitem(sys.modules, "tensorrt", stub)
    with pytest.raises(EngineBuildError, match="^no TensorRT found"):
        trt_module()
    rtx = make_fake_trt("tensorrt_rtx_bindings", rtx=True)
    monkeypatch.setitem(sys.modules, "tensorrt_rtx_bindings", rtx)
    assert trt_module() is rtx  # the stub is skipped, TensorRT-RTX is used
    assert backend_name(rtx) == "tensorrt-rtx"


def test_real_tensorrt_wins_over_rtx(fake_trt: Callable[..., types.ModuleType], monkeypatch) -> None:
    full = fake_trt()
    monkeypatch.setitem(sys.modules, "tensorrt_rtx_bindings", make_fake_trt("tensorrt_rtx_bindings", rtx=True))
    assert trt_module() is full and backend_name(full) == "tensorrt"


def test_installed_but_broken_flavour_is_named(no_trt: None, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Bindings without their libraries fail to import: say so, rather than 'not found'."""
    package = tmp_path / "tensorrt_rtx_bindings"
    package.mkdir()
    (package / "__init__.py").write_text(
        'raise ImportError("libtensorrt_rtx.so.1: cannot open shared object file\\nsecond line")\n'
    )
    monkeypatch.delitem(sys.modules, "tensorrt_rtx_bindings")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EngineBuildError) as info:
        trt_module()
    message = str(info.value)
    assert message.startswith(NO_TENSORRT) and "tensorrt_rtx_bindings: libtensorrt_rtx.so.1" in message
    assert "\n" not in message and "second line" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9.0", "sm90"),
        ("90", "sm90"),
        ("sm_90", "sm90"),
        ("SM89", "sm89"),
        ("8.7", "sm87"),
        ("12.1", "sm121"),
        ("sm121", "sm121"),
    ],
)
def test_parse_cc(text: str, expected: str) -> None:
    assert parse_cc(text) == expected


@pytest.mark.parametrize("text", ["", "ampere", "9", "sm9", "9.x"])
def test_parse_cc_rejects(text: str) -> None:
    with pytest.raises(EngineBuildError, match="compute capability"):
        parse_cc(text)


def test_full_tensorrt_builds_for_this_gpu_only() -> None:
    trt = make_fake_trt("tensorrt", version="10.3.0")
    target = resolve_target(trt, "8.7")
    assert (target.backend, target.trt_version, target.compute_capability, target.build_for) == (
        "tensorrt", "10.3.0", "sm87", None)  # fmt: skip
    assert resolve_target(trt, "sm87", "sm87").compute_capability == "sm87"
    with pytest.raises(EngineBuildError, match=r"only for the GPU it runs on \(sm87\), not sm89"):
        resolve_target(trt, "sm87", "sm89")


def test_rtx_targets_and_the_h100() -> None:
    rtx = make_fake_trt("tensorrt_rtx_bindings", version="1.7.1.116", rtx=True)
    assert rtx_targets(rtx) == ("sm75", "sm80", "sm86", "sm89", "sm120", "sm121")
    assert resolve_target(rtx, "sm89").build_for is None  # this GPU: the CURRENT target
    with pytest.raises(EngineBuildError) as info:  # an H100 is not a TensorRT-RTX target
        resolve_target(rtx, "sm90")
    assert "cannot target this GPU's sm90" in str(info.value) and "--engine-target" in str(info.value)
    target = resolve_target(rtx, "sm90", "sm89")
    assert (target.compute_capability, target.device_compute_capability, target.build_for) == ("sm89", "sm90", "sm89")
    with pytest.raises(EngineBuildError, match="cannot target sm70"):
        resolve_target(rtx, "sm90", "7.0")


def test_without_a_gpu_only_rtx_with_a_target_builds() -> None:
    """Ahead of time on CPU (device None): TensorRT-RTX needs an explicit target; full TensorRT cannot build."""
    rtx = make_fake_trt("tensorrt_rtx_bindings", version="1.7.1.116", rtx=True)
    target = resolve_target(rtx, None, "8.9")
    assert (target.compute_capability, target.device_compute_capability, target.build_for) == ("sm89", None, "sm89")
    assert not target.has_gpu and resolve_target(rtx, "sm89").has_gpu
    with pytest.raises(EngineBuildError, match="no --engine-target was given.*pass --engine-target with one of sm75"):
        resolve_target(rtx, None)
    with pytest.raises(EngineBuildError, match="sm90 is not one of its targets"):
        resolve_target(rtx, None, "sm90")
    with pytest.raises(EngineBuildError) as info:
        resolve_target(make_fake_trt("tensorrt", version="10.3.0"), None, "sm89")
    assert "no CUDA GPU visible to build TensorRT 10.3.0 engines" in str(info.value) and "\n" not in str(info.value)


def test_device_compute_capability_fails_in_one_line_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi either
    with pytest.raises(EngineBuildError, match="no CUDA GPU visible"):
        flavour.device_compute_capability()
