"""Which graph precision a runtime runs: fp32 unless fp16 is asked for by name.

The bundle names variants by the exporter's contract (``acc.exporter.precision.variant_path``: ``graphs/s3.onnx``
→ ``graphs/s3.fp16.onnx``); a variant exists when that file is in the manifest's file table (so it is hashed and
verified like every other file). Why ``auto`` is fp32 on every device: measured on an H100 with ONNX Runtime 1.31.1's
CUDA EP, the fp16 ACC graphs changed the kept set of 66% (s1.5) and 23% (s3) of SST-2 dev sentences and the label
of up to 26% (benchmarks/results/h100-fp16-bert-sst2_20261125T153431Z.md), although the same graphs agree on the CPU
EP at export time, and they were not faster than fp32 there. Until that is understood, fp16 runs only on request
(``precision="fp16"``); ``fp16-all`` (score and ranking in fp16 too) is a measurement variant.
"""

from __future__ import annotations

from pathlib import Path

from acc.profiles import BundleError

from .manifest import Manifest
from .session import BackendError

PRECISIONS = ("auto", "fp32", "fp16", "fp16-all")


def variant_file(graph_path: str | Path, precision: str) -> Path:
    """Path of ``graph_path``'s variant in ``precision`` (the graph itself for fp32)."""
    from acc.exporter.precision import variant_path

    path = Path(graph_path)
    return path.with_name(variant_path(path.name, precision))


def graphs_of(manifest: Manifest) -> list[str]:
    """Every graph a runtime may run: the profiles' and the adjustable one."""
    graphs = [entry.graph for entry in manifest.profiles]
    return graphs + ([manifest.adjustable.graph] if manifest.adjustable is not None else [])


def available_precisions(manifest: Manifest) -> list[str]:
    """Precisions in which *every* graph of the bundle exists (a partial set would fail mid-serving)."""
    from acc.exporter.precision import GRAPH_PRECISIONS, variant_path

    graphs = graphs_of(manifest)
    return [p for p in GRAPH_PRECISIONS if all(variant_path(g, p) in manifest.files for g in graphs)]


def resolve_precision(manifest: Manifest, device: str, precision: str = "auto") -> str:
    """``auto`` → ``fp32`` (see the module docstring for why not fp16 on CUDA); a named precision must be shipped."""
    if precision not in PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}; pass one of {', '.join(repr(p) for p in PRECISIONS)}")
    available = available_precisions(manifest)
    if precision == "auto":
        return "fp32"
    if precision not in available:
        raise BundleError(
            f"bundle {manifest.bundle_dir} has no {precision} graphs (has {', '.join(available) or 'none'}); "
            f"re-export it with acc-export --precision fp32,{precision} or pass precision='fp32'"
        )
    return precision
