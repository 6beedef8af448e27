"""Causal LM (GPT-2) export: prefill graphs per profile with per-layer pruned KV outputs, one decode-step graph.

Exported through ``acc.exporter.main_export`` (``CausalExport`` in ``acc.exporter.families``). Names are imported
on first use (PEP 562), so the runtime can import the torch-free ``names`` and ``step`` modules without loading torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "CausalExportResult": ".family",
    "CausalExport": ".family",
    "CausalGraph": ".export",
    "export_decode": ".export",
    "export_prefill": ".export",
    "check_causal_reports": ".validate",
    "measure_generation": ".validate",
    "measure_prefill": ".validate",
    "OrtCausalStep": ".step",
    "PromptBatch": ".step",
    "left_pad": ".step",
    "past_names": ".names",
    "present_names": ".names",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
