"""Write and check the fp16 variants of a bundle's graphs (``acc-export --precision fp32,fp16``).

Runs inside the pipeline after the fp32 graphs passed validation, in the staging directory, so a variant that
fails its bounds leaves no bundle behind, like an fp32 graph would. Each variant is validated against the same
fp32 PyTorch model on the same batches as its fp32 graph (the references are shared, not recomputed), and the
manifest records, per precision, the reports and the bounds used. Variant weights go to one shared
``graphs/weights.fp16.bin`` (``fp16`` and ``fp16-all`` hold the same fp16 tensors, stored once by content).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from acc.profiles import ExportError

from .config import AccOnnxConfig
from .export import ExportedGraph
from .precision import FP16_ALL, FP16_ATOL, FP16_MIN_LABEL_AGREEMENT, FP32, GATED, GraphVariant, write_variant
from .validate import GraphReport, check_reports
from .weights import SharedWeights

FP16_WEIGHTS_FILE = "weights.fp16.bin"


def export_variants(
    graphs: Sequence[ExportedGraph], precisions: Sequence[str], say: Callable[[str], None]
) -> dict[str, list[tuple[GraphVariant, ExportedGraph]]]:
    """Per non-fp32 precision: every graph converted, written beside it and moved onto shared fp16 weights.

    Returns ``{precision: [(variant, the ExportedGraph to validate it as)]}``; the ExportedGraph is the fp32
    graph's with the variant's path (same inputs, outputs and TokenSelect layers).
    """
    import onnx

    wanted = [p for p in precisions if p != FP32]
    if not wanted or not graphs:
        return {}
    folder = graphs[0].path.parent
    out: dict[str, list[tuple[GraphVariant, ExportedGraph]]] = {p: [] for p in wanted}
    with SharedWeights(folder / FP16_WEIGHTS_FILE) as weights:
        for precision in wanted:
            for graph in graphs:
                say(f"converting {graph.spec.name} to {precision}")
                variant = write_variant(graph.path, precision, graph.spec.name)
                weights.externalize(variant.path)
                try:
                    onnx.checker.check_model(str(variant.path), full_check=True)
                except onnx.checker.ValidationError as exc:
                    raise ExportError(f"{variant.path.name} fails onnx.checker: {str(exc).splitlines()[0]}; file a bug") from exc
                out[precision].append((variant, dataclasses.replace(graph, path=variant.path)))
    return out


def fp16_config(config: AccOnnxConfig) -> AccOnnxConfig:
    """The export config with fp16 bounds (logits atol ``FP16_ATOL``, label agreement ``FP16_MIN_LABEL_AGREEMENT``)."""
    return dataclasses.replace(config, atol={"logits": FP16_ATOL, "": FP16_ATOL},
                               min_label_agreement=FP16_MIN_LABEL_AGREEMENT)  # fmt: skip


def check_variant_reports(
    precision: str, reports: Sequence[GraphReport], config: AccOnnxConfig, allow_mismatch: bool
) -> list[str]:
    """Failures of one precision's reports. ``fp16`` is gated (raises unless ``allow_mismatch``); ``fp16-all`` is
    measured only (its failures are returned, recorded, and never stop the export)."""
    gated = precision in GATED
    failures = check_reports(reports, fp16_config(config), allow_mismatch=allow_mismatch or not gated)
    return [f"{precision}: {line}" for line in failures]


def manifest_section(
    root: Path,
    variants: dict[str, list[tuple[GraphVariant, ExportedGraph]]],
    reports: dict[str, list[GraphReport]],
    failures: dict[str, list[str]],
    config: AccOnnxConfig,
) -> dict[str, Any]:
    """``manifest["precisions"]``: what each variant file is, how it was checked, and the default per device."""
    fp16 = fp16_config(config)
    return {
        "graphs": [FP32, *variants],
        "naming": "<graph>.<precision>.onnx beside <graph>.onnx (TokenSelect inlined)",
        "default": {"cpu": FP32, "cuda": next((p for p in variants if p in GATED), FP32)},
        "variants": [variant.to_manifest(root) for items in variants.values() for variant, _ in items],
        "validation": {
            precision: {"gated": precision in GATED, "atol": fp16.atol, "min_label_agreement": fp16.min_label_agreement,
                        "reports": [r.to_dict() for r in reports.get(precision, [])],
                        "failures": failures.get(precision, [])}
            for precision in variants
        },
        "measured_only": [p for p in variants if p == FP16_ALL],
    }  # fmt: skip
