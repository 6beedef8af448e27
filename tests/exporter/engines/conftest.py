"""Fixtures of the engine tests: a TensorRT-free environment, a fake TensorRT flavour, staged tiny4 graphs.

``fake_trt`` installs ``fake_trt.make_fake_trt`` (a recorder of API calls, not TensorRT) as the importable flavour
and pins the GPU's compute capability, so the builder logic runs on CPU. Real TensorRT-RTX builds (no GPU needed)
are in test_rtx_aot.py (marked ``trt_build``); tests that must *run* engines are marked ``trt`` and skip here.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from fake_trt import make_fake_trt

from acc.runtime import trt_flavour as flavour  # finding TensorRT and the GPU is the runtime's

TRT_NAMES = (flavour.TENSORRT, *flavour.RTX_MODULES)


@pytest.fixture
def no_trt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every TensorRT import fails as if nothing were installed (None in sys.modules halts the import)."""
    for name in TRT_NAMES:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch, no_trt: None) -> Callable[..., ModuleType]:
    """``fake_trt(rtx=False, device_cc="sm87", **kw)`` installs a fake flavour and the GPU's compute capability."""

    def install(*, rtx: bool = False, device_cc: str = "sm87", **kwargs: object) -> ModuleType:
        name = flavour.RTX_MODULES[-1] if rtx else flavour.TENSORRT
        module = make_fake_trt(name, version="1.7.1.116" if rtx else "10.3.0", rtx=rtx, **kwargs)
        monkeypatch.setitem(sys.modules, name, module)
        monkeypatch.setattr(flavour, "device_compute_capability", lambda index=0: device_cc)
        return module

    return install


@pytest.fixture
def staged(tiny4_graphs, tmp_path: Path) -> Path:  # noqa: ANN001
    """A staging-like folder with ``graphs/flat.onnx``, ``graphs/adjustable.onnx`` and their ``weights.bin``."""
    graphs = tmp_path / "staging" / "graphs"
    graphs.mkdir(parents=True)
    for path in (tiny4_graphs.fixed.path, tiny4_graphs.adjustable.path, tiny4_graphs.weights):
        shutil.copy(path, graphs / path.name)
    return graphs.parent
