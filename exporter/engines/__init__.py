"""TensorRT / TensorRT-RTX engines for a bundle's graphs: lazy loaders, the engine file names, ``build_engines``.

Importing this package imports neither TensorRT nor onnx; ``trt_module()`` finds the installed flavour when a
loader runs. Names are imported on first use (PEP 562), like ``acc.exporter``; finding TensorRT and the
``keep_counts`` widths come from the runtime (``acc.runtime.trt_flavour``, ``acc.runtime.keep_widths``).

    engine = SaveEngine(EngineFromNetwork(NetworkFromOnnx(Fp16Onnx(InlinedOnnx("graphs/s3.0.onnx"))), "fp16",
                                          ShapeRanges(batch=(1, 8, 32), seq=(16, 128, 512))), "s3.0.engine")
    engine()   # builds now
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "BACKENDS": ".flavour",
    "EngineTarget": ".flavour",
    "device_compute_capability": "acc.runtime.trt_flavour",
    "engine_target": ".flavour",
    "parse_cc": "acc.runtime.trt_flavour",
    "resolve_target": ".flavour",
    "backend_name": "acc.runtime.trt_flavour",
    "trt_module": "acc.runtime.trt_flavour",
    "ShapeRanges": ".shapes",
    "parse_range": ".shapes",
    "OnnxGraph": ".onnx_prep",
    "InlinedOnnx": ".onnx_prep",
    "Fp16Onnx": ".onnx_prep",
    "KEEP_COUNTS_INPUT": "acc.runtime.keep_widths",
    "KeepCountsOnnx": ".keep_counts",
    "bucket_widths": "acc.runtime.keep_widths",
    "keep_widths": "acc.runtime.keep_widths",
    "ParsedNetwork": ".loaders",
    "BuiltEngine": ".loaders",
    "NetworkFromOnnx": ".loaders",
    "EngineFromNetwork": ".loaders",
    "SaveEngine": ".loaders",
    "ENGINES_DIR": ".record",
    "PRECISIONS": ".record",
    "engine_file_name": ".record",
    "parse_engine_file_name": ".record",
    "parse_precisions": ".record",
    "build_engines": ".build",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
