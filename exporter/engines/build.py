"""``build_engines``: one TensorRT engine per (graph, precision) of a bundle being staged, sharing a timing cache.

Runs after the graphs are exported and validated (pipeline.py), inside the staging directory, so engines are
hashed into the manifest with everything else and a failed build leaves no bundle. The chain per engine::

    InlinedOnnx(graphs/<p>.onnx) ─[fp16: Fp16Onnx]─► NetworkFromOnnx ─► EngineFromNetwork ─► SaveEngine(…)
    (adjustable: InlinedOnnx(KeepCountsOnnx(graphs/adjustable.onnx)) — TopK widths become a shape-tensor input)

The timing cache lives outside the bundle (a temp file unless the caller keeps one): it speeds up later builds
on this machine and means nothing anywhere else. TensorRT-RTX gets none: its timing-cache calls are deprecated
no-ops since 1.2 (they only warn), and its ahead-of-time builds on CPU have no kernels to time anyway.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from acc.profiles import EngineBuildError
from acc.runtime.bundle_format import EngineEntry

from .flavour import EngineTarget, engine_target
from .keep_counts import KeepCountsOnnx
from .loaders import EngineFromNetwork, NetworkFromOnnx, SaveEngine
from .onnx_prep import Fp16Onnx, InlinedOnnx
from .record import ENGINES_DIR, engine_file_name, parse_precisions
from .shapes import ShapeRanges

GRAPHS_DIR = "graphs"
TIMING_CACHE_NAME = "timing.cache"
ADJUSTABLE = "adjustable"


def build_engines(
    bundle_staging_dir: str | Path,
    profiles: Sequence[str],
    precisions: Sequence[str] = ("fp16",),
    shapes: ShapeRanges | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    target: EngineTarget | None = None,
    timing_cache: str | Path | None = None,
) -> list[EngineEntry]:
    """Build ``engines/<profile>.<backend>.<cc>.<precision>.engine`` for every profile × precision.

    ``profiles`` names graphs under ``graphs/`` (a profile name or ``adjustable``). ``target`` (from
    ``engine_target()``) is resolved here when not given, i.e. TensorRT is imported and the GPU asked.
    ``timing_cache``: a file to reuse across calls; default a temp file shared by this call's builds only.
    Full TensorRT only (ignored for TensorRT-RTX, where the cache is a no-op).
    Returns the records in build order; raises ``EngineBuildError`` on the first engine that fails.
    """
    root = Path(bundle_staging_dir)
    precisions = parse_precisions(list(precisions))
    shapes = shapes or ShapeRanges()
    say = progress or (lambda message: None)
    if not profiles:
        raise EngineBuildError("no graphs to build engines for; pass at least one profile name")
    missing = [name for name in profiles if not (root / GRAPHS_DIR / f"{name}.onnx").is_file()]
    if missing:
        raise EngineBuildError(f"no graph {GRAPHS_DIR}/<name>.onnx in {root} for {missing}; export them first")
    target = target or engine_target()
    with tempfile.TemporaryDirectory(prefix="acc-trt-") as scratch:
        cache = Path(timing_cache) if timing_cache is not None else Path(scratch) / TIMING_CACHE_NAME
        cache = cache if target.backend == "tensorrt" else None
        records = []
        for name in profiles:
            for precision in precisions:
                file = f"{ENGINES_DIR}/{engine_file_name(name, target.backend, target.compute_capability, precision)}"
                say(f"building {target.backend} engine {file}")
                records.append(_build_one(root, name, precision, shapes, target, cache, file))
    return records


def _build_one(
    root: Path, name: str, precision: str, shapes: ShapeRanges, target: EngineTarget, cache: Path | None, file: str
) -> EngineEntry:
    path = root / GRAPHS_DIR / f"{name}.onnx"
    # The adjustable graph takes host-computed TopK widths (keep_counts): its widths still come from the float
    # keep_ratios input, and TensorRT(-RTX 1.7) refuses that as TopK's K ("Network input keep_ratios is a shape
    # tensor and must have type Int32 or Int64"). Fixed-profile graphs size TopK from the padded length and parse.
    graph = InlinedOnnx(KeepCountsOnnx(path) if name == ADJUSTABLE else path)
    network = NetworkFromOnnx(Fp16Onnx(graph) if precision == "fp16" else graph)
    build = EngineFromNetwork(network, precision, shapes, timing_cache=cache, compute_capability=target.build_for)
    built = SaveEngine(build, root / file)()
    if (built.backend, built.compute_capability) != (target.backend, target.compute_capability):
        (root / file).unlink(missing_ok=True)
        raise EngineBuildError(
            f"engine {file} came out as {built.backend}/{built.compute_capability}, expected "
            f"{target.backend}/{target.compute_capability} (TensorRT or the GPU changed mid-export); export again"
        )
    return EngineEntry(
        profile=name, backend=built.backend, compute_capability=built.compute_capability, precision=precision,
        file=file, trt_version=built.trt_version, shapes=shapes.to_dict(),
        build_seconds=round(float(built.build_seconds), 3), network_layers=int(built.network_layers),
    )  # fmt: skip
