"""acc.runtime.backends: Runtime.load(backend=...) picks what runs the graphs from what the bundle ships.

The AOTInductor path runs for real in tests/aoti (it needs a compiled package). TensorRT engines cannot execute on
this machine (no GPU), so here the TensorRT path is checked up to the point where it would need one: a bundle
without engines, engines on the CPU and a machine without a GPU are each one line naming the fix, at load.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from acc.exporter.bundle import file_digest
from acc.runtime import BackendError, EngineEntry, Runtime, read_manifest
from acc.runtime.trt_flavour import visible_compute_capability

ENGINE = "engines/s1.5.tensorrt.sm87.fp16.engine"


def _with_engine(bundle: Path, target: Path) -> Path:
    """A copy of ``bundle`` that lists one (placeholder) engine, hashed like every bundle file."""
    shutil.copytree(bundle, target)
    (target / "engines").mkdir()
    (target / ENGINE).write_bytes(b"placeholder, not a TensorRT engine")
    data = read_manifest(target).to_json()
    data["files"][ENGINE] = file_digest(target / ENGINE).to_json()
    data["engines"] = [EngineEntry("s1.5", "tensorrt", "sm87", "fp16", ENGINE, "10.3.0").to_json()]
    (target / "manifest.json").write_text(json.dumps(data))
    return target


def test_unknown_backend_names_the_choices(tiny_export_bundle: Path) -> None:
    with pytest.raises(BackendError, match=r"unknown backend 'onnx'; pass one of 'auto', 'ort', 'trt', 'aoti'"):
        Runtime.load(tiny_export_bundle, backend="onnx")


def test_ort_is_the_default_and_names_its_device(tiny_export_bundle: Path) -> None:
    runtime = Runtime.load(tiny_export_bundle, device="cpu", backend="ort", preload=False)
    assert runtime.backend == "ort-cpu"
    assert runtime.predict(["a fine film"]).labels[0] in runtime.labels


def test_trt_without_engines_or_gpu_fails_at_load(tiny_export_bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"ships no TensorRT engines; export it with --engine trt"):
        Runtime.load(tiny_export_bundle, device="cpu", backend="trt")
    bundle = _with_engine(tiny_export_bundle, tmp_path / "b")
    with pytest.raises(BackendError, match=r"run on a CUDA GPU, not on cpu; pass device='cuda' or backend='ort'"):
        Runtime.load(bundle, device="cpu", backend="trt")
    if visible_compute_capability() is None:
        with pytest.raises(BackendError, match=r"need a visible CUDA GPU and none is"):
            Runtime.load(bundle, device="cuda", backend="trt")


def test_aoti_without_packages_fails_at_load(tiny_export_bundle: Path) -> None:
    with pytest.raises(BackendError, match=r"has no AOTInductor packages; build them with acc-aoti .* --device cpu"):
        Runtime.load(tiny_export_bundle, device="cpu", backend="aoti")
