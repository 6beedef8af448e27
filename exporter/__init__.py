"""Export ACC models to ONNX (one graph per profile + the adjustable graph), validate, time and bundle them.

Names are imported on first use (PEP 562), so ``acc-export --help`` and light modules such as
``acc.exporter.bundle`` or ``acc.exporter.latency_table`` do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "AccOnnxConfig": ".config",
    "config_for": ".config",
    "ExportOptions": ".options",
    "ExportResult": ".encoder",
    "main_export": ".pipeline",
    "ExportedGraph": ".export",
    "GraphSpec": ".export",
    "count_token_select": ".export",
    "export_graph": ".export",
    "GraphReport": ".validate",
    "check_reports": ".validate",
    "measure_graph": ".validate",
    "new_staging_dir": ".bundle",
    "write_bundle": ".bundle",
    "TritonOptions": ".triton",
    "check_repository": ".triton",
    "write_triton_repository": ".triton",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
