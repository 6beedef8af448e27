"""Which graph precision a runtime runs: the bundle's own default for the device, fp32 where in doubt.

The bundle names variants by ``variant_path`` (``graphs/s3.onnx`` → ``graphs/s3.fp16.onnx``), the contract the
exporter writes by; a variant exists when that file is in the manifest's file table (so it is hashed and
verified like every other file). ``auto`` takes the manifest's ``precisions.default[device]`` (fp16 on CUDA when
the export wrote and gated fp16 graphs) only if every graph has that variant, its export-time validation passed, and
the bundle's TokenSelect body is version 2 or later: version-1 bodies gathered hidden states with GatherElements,
which ONNX Runtime 1.31's CUDA EP turned into non-finite rows for fp16 data (measured on an H100: 74% label
agreement at s1.5, benchmarks/results/h100-fp16-probe_20261125T1716Z.md; fixed bodies: 0 non-finite, ≥ 99.89%,
h100-fp16-probe_20261125T1741Z.md). Otherwise ``auto`` is fp32. ``fp16-all`` (score and ranking in fp16 too) is a
measurement variant, run only by name, and so is ``int8`` (CPU graphs with int8 weight matmuls, ACC score and
selection float; ``acc.exporter.int8``): it trades accuracy for speed, a choice the caller makes.
"""

from __future__ import annotations

from pathlib import Path

from acc.profiles import BundleError, DataError

from .bundle_format import Manifest
from .session import BackendError

FP32 = "fp32"
FP16 = "fp16"
FP16_ALL = "fp16-all"
INT8 = "int8"  # CPU: weight MatMul/Gemm in int8, everything else float (acc.exporter.int8)
GRAPH_PRECISIONS = (FP32, FP16, FP16_ALL, INT8)
PRECISIONS = ("auto", *GRAPH_PRECISIONS)


def variant_path(graph: str, precision: str) -> str:
    """File of a graph's variant, relative like the graph: ``graphs/s3.onnx`` → ``graphs/s3.fp16.onnx``.

    The naming is the contract between exporter and runtime (the runtime finds a variant by this name in the
    manifest's file table), so it lives in one function.
    """
    if precision not in GRAPH_PRECISIONS:
        raise DataError(f"precision {precision!r} is not one of {', '.join(GRAPH_PRECISIONS)}")
    if precision == FP32:
        return graph
    if not graph.endswith(".onnx"):
        raise DataError(f"graph {graph!r} does not end in .onnx; name graphs <profile>.onnx")
    return f"{graph[: -len('.onnx')]}.{precision}.onnx"


def variant_file(graph_path: str | Path, precision: str) -> Path:
    """Path of ``graph_path``'s variant in ``precision`` (the graph itself for fp32)."""
    path = Path(graph_path)
    return path.with_name(variant_path(path.name, precision))


def graphs_of(manifest: Manifest) -> list[str]:
    """Every graph a runtime may run: the profiles' and the adjustable one."""
    graphs = [entry.graph for entry in manifest.profiles]
    return graphs + ([manifest.adjustable.graph] if manifest.adjustable is not None else [])


def available_precisions(manifest: Manifest) -> list[str]:
    """Precisions in which *every* graph of the bundle exists (a partial set would fail mid-serving)."""
    graphs = graphs_of(manifest)
    return [p for p in GRAPH_PRECISIONS if all(variant_path(g, p) in manifest.files for g in graphs)]


def resolve_precision(manifest: Manifest, device: str, precision: str = "auto") -> str:
    """``auto`` → the bundle's default for ``device`` where it is safe, else fp32 (module doc); a named precision
    must be shipped."""
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}; pass one of {', '.join(repr(p) for p in PRECISIONS)}")
    available = available_precisions(manifest)
    if precision == "auto":
        return _bundle_default(manifest, device, available)
    if precision not in available:
        raise BundleError(
            f"bundle {manifest.bundle_dir} has no {precision} graphs (has {', '.join(available) or 'none'}); "
            f"re-export it with acc-export --precision fp32,{precision} or pass precision='fp32'"
        )
    return precision


def _bundle_default(manifest: Manifest, device: str, available: list[str]) -> str:
    """The manifest's default precision for ``device`` if shipped, validated and from a fixed TokenSelect body."""
    wanted = (manifest.precisions.get("default") or {}).get(device, "fp32")
    if wanted == "fp32" or wanted not in available:
        return "fp32"
    validation = (manifest.precisions.get("validation") or {}).get(wanted) or {}
    if validation.get("failures") or int(manifest.graph_format.get("token_select_version", 1)) < 2:
        return "fp32"
    return wanted
