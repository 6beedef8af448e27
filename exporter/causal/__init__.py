"""Causal LM (GPT-2) export: prefill graphs per profile with per-layer pruned KV outputs, one decode-step graph.

Exported through ``acc.exporter.main_export`` (``CausalExport`` in ``acc.exporter.families``). Names are imported
on first use (PEP 562). The decoding step and the graph's input/output names the runtime needs too live in the
torch-free ``acc.runtime.causal_step`` and ``acc.runtime.causal_names``.
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
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
