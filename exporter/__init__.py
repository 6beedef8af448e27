"""Export ACC models to ONNX (one graph per profile + the adjustable graph), validate, time and bundle them."""

from __future__ import annotations

from .bundle import new_staging_dir, write_bundle
from .config import AccOnnxConfig, config_for
from .export import ExportedGraph, GraphSpec, count_token_select, export_graph
from .options import ExportOptions
from .pipeline import ExportResult, main_export
from .validate import GraphReport, check_reports, measure_graph

__all__ = [
    "AccOnnxConfig",
    "ExportOptions",
    "ExportResult",
    "ExportedGraph",
    "GraphReport",
    "GraphSpec",
    "check_reports",
    "config_for",
    "count_token_select",
    "export_graph",
    "main_export",
    "measure_graph",
    "new_staging_dir",
    "write_bundle",
]
