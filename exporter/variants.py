"""Write and check the fp16 / int8 variants of a bundle's graphs (``acc-export --precision fp32,fp16,int8``).

Runs inside the pipeline after the fp32 graphs passed validation, in the staging directory, so a variant that
fails its bounds leaves no bundle behind, like an fp32 graph would. Each variant is validated against the same
fp32 PyTorch model on the same batches as its fp32 graph (the references are shared, not recomputed), and the
manifest records, per precision, the reports and the bounds used. Variant weights go to one shared file per
element type: ``graphs/weights.fp16.bin`` (``fp16`` and ``fp16-all`` hold the same fp16 tensors, stored once by
content) and ``graphs/weights.int8.bin``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import ExportError

from .config import AccOnnxConfig
from .export import ExportedGraph
from .precision import (
    BOUNDS,
    FP16,
    FP16_ALL,
    FP32,
    GATED,
    INT8,
    GraphVariant,
    write_variant,
)
from .validate import GraphReport, check_reports
from .weights import SharedWeights

if TYPE_CHECKING:
    from .int8 import Int8Options

FP16_WEIGHTS_FILE = "weights.fp16.bin"
INT8_WEIGHTS_FILE = "weights.int8.bin"


def weights_file(precision: str) -> str:
    """The shared weights file of a variant precision (fp16 and fp16-all share one)."""
    return INT8_WEIGHTS_FILE if precision == INT8 else FP16_WEIGHTS_FILE


def export_variants(
    graphs: Sequence[ExportedGraph],
    precisions: Sequence[str],
    say: Callable[[str], None],
    int8_options: Int8Options | None = None,
) -> dict[str, list[tuple[GraphVariant, ExportedGraph]]]:
    """Per non-fp32 precision: every graph converted, written beside it and moved onto shared weights.

    Returns ``{precision: [(variant, the ExportedGraph to validate it as)]}``; the ExportedGraph is the fp32
    graph's with the variant's path (same inputs, outputs and TokenSelect layers).
    """

    wanted = [p for p in precisions if p != FP32]
    if not wanted or not graphs:
        return {}
    folder = graphs[0].path.parent
    out: dict[str, list[tuple[GraphVariant, ExportedGraph]]] = {p: [] for p in wanted}
    for file in sorted({weights_file(p) for p in wanted}):
        with SharedWeights(folder / file) as weights:
            for precision in (p for p in wanted if weights_file(p) == file):
                for graph in graphs:
                    say(f"converting {graph.spec.name} to {precision}")
                    variant = write_variant(graph.path, precision, graph.spec.name, int8_options)
                    weights.externalize(variant.path)
                    _check(variant.path)
                    out[precision].append((variant, dataclasses.replace(graph, path=variant.path)))
    return out


def _check(path: Path) -> None:
    """``onnx.checker`` on a written variant; ORT's int8 ops (``com.microsoft``) are checked as far as it can."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"{path.name} fails onnx.checker: {str(exc).splitlines()[0]}; file a bug") from exc


def variant_config(config: AccOnnxConfig, precision: str) -> AccOnnxConfig:
    """The export config with a variant's bounds (``precision.BOUNDS``: logits atol, min label agreement)."""
    atol, agreement = BOUNDS[precision]
    return dataclasses.replace(config, atol={"logits": atol, "": atol}, min_label_agreement=agreement)


def check_variant_reports(
    precision: str, reports: Sequence[GraphReport], config: AccOnnxConfig, allow_mismatch: bool
) -> list[str]:
    """Failures of one precision's reports. ``fp16`` and ``int8`` are gated (raise unless ``allow_mismatch``); ``fp16-all`` is
    measured only (its failures are returned, recorded, and never stop the export)."""
    gated = precision in GATED
    failures = check_reports(reports, variant_config(config, precision), allow_mismatch=allow_mismatch or not gated)
    return [f"{precision}: {line}" for line in failures]


def manifest_section(
    root: Path,
    variants: dict[str, list[tuple[GraphVariant, ExportedGraph]]],
    reports: dict[str, list[GraphReport]],
    failures: dict[str, list[str]],
    config: AccOnnxConfig,
    int8_options: Int8Options | None = None,
) -> dict[str, Any]:
    """``manifest["precisions"]``: what each variant file is, how it was checked, and the default per device."""
    from .int8 import Int8Options

    bounds = {precision: variant_config(config, precision) for precision in variants}
    return {
        "graphs": [FP32, *variants],
        "naming": "<graph>.<precision>.onnx beside <graph>.onnx (calls kept: see each variant's calls)",
        "default": {"cpu": FP32, "cuda": FP16 if FP16 in variants else FP32},  # int8 runs only by name
        "variants": [variant.to_manifest(root) for items in variants.values() for variant, _ in items],
        "validation": {
            precision: {"gated": precision in GATED, "atol": bounds[precision].atol,
                        "min_label_agreement": bounds[precision].min_label_agreement,
                        "reports": [r.to_dict() for r in reports.get(precision, [])],
                        "failures": failures.get(precision, [])}
            for precision in variants
        },
        "measured_only": [p for p in variants if p == FP16_ALL],
        **({"int8": (int8_options or Int8Options()).to_dict()} if INT8 in variants else {}),
    }  # fmt: skip
