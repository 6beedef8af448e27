"""TensorRT loaders: ``NetworkFromOnnx`` → ``EngineFromNetwork`` → ``SaveEngine`` (Polygraphy-style, lazy).

Each constructor only stores its arguments; ``__call__`` does the work. An argument may be a loader (called then;
the caller of ``__call__`` owns what it returns) or a value (owned by whoever passed it). The TensorRT module is
resolved when a loader runs (``trt_module()``), or passed in (``trt=``: tests pass a fake), so importing this
module needs no TensorRT.

Written against the TensorRT 10 Python API names, which TensorRT-RTX keeps (checked against the names its 1.7
bindings export, not run): ``Builder.create_network/create_builder_config/create_optimization_profile/
build_serialized_network``, ``OnnxParser.parse``, ``IBuilderConfig.create_timing_cache/set_timing_cache/
get_timing_cache``, TensorRT-RTX's ``num_compute_capabilities``/``set_compute_capability``.

Why not Polygraphy's loaders (checked with polygraphy 0.53.6): they do drive TensorRT-RTX and built our dense
graph on CPU for sm89, but the flavour is one per process (``POLYGRAPHY_USE_TENSORRT_RTX``, read when its TensorRT
backend is imported, and only under the import name ``tensorrt_rtx``), ``NetworkFromOnnxBytes`` gives the parser
no model path (our fp32 graphs keep their weights in ``weights.bin``), its config always installs a timing cache
(a warning no-op in TensorRT-RTX), and its errors are multi-line exceptions; these loaders pick the flavour per
call and fail in one line.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from acc.profiles import EngineBuildError
from acc.runtime import trt_flavour
from acc.runtime.keep_widths import KEEP_COUNTS_INPUT
from acc.runtime.trt_flavour import backend_name, parse_cc, trt_module, trt_version

from . import flavour
from .onnx_prep import OnnxGraph, resolve
from .record import PRECISIONS
from .shapes import TOKEN_INPUTS, ShapeRanges

# The runtime reads logits only; the per-layer kept_index outputs have data-dependent shapes that would need an
# output allocator, so engines drop them (TensorRT then prunes nothing that logits need).
ENGINE_OUTPUTS = ("logits",)
_TWO_GB = 2**31


def _logger(trt: ModuleType) -> Any:
    """A TensorRT logger that keeps errors (for one-line messages) and drops the rest below WARNING."""

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
                self.errors.append(str(msg).strip().splitlines()[0] if str(msg).strip() else "")

    return _Logger()


@dataclass
class ParsedNetwork:
    """A parsed TensorRT network and the objects that must outlive it (TensorRT frees a network with its builder)."""

    trt: ModuleType
    builder: Any
    network: Any
    parser: Any
    logger: Any
    source: Path
    strongly_typed: bool


class NetworkFromOnnx:
    """``OnnxGraph`` (or a loader of one) → ``ParsedNetwork``; only ``outputs`` stay marked as network outputs.

    Networks are created strongly typed where the flavour has the flag (TensorRT ≥ 9, TensorRT-RTX), so the
    precision is the graph's (see ``Fp16Onnx``); older TensorRT gets a weakly typed network and fp16 by flag.
    """

    def __init__(
        self, onnx_loader: Any, outputs: tuple[str, ...] = ENGINE_OUTPUTS, trt: ModuleType | None = None
    ) -> None:
        self.onnx_loader = onnx_loader
        self.outputs = tuple(outputs)
        self.trt = trt

    def __call__(self) -> ParsedNetwork:
        trt = self.trt or trt_module()
        graph: OnnxGraph = resolve(self.onnx_loader)
        logger = _logger(trt)
        builder = trt.Builder(logger)
        flags = getattr(trt, "NetworkDefinitionCreationFlag", None)
        strongly_typed = flags is not None and hasattr(flags, "STRONGLY_TYPED")
        network = builder.create_network(1 << int(flags.STRONGLY_TYPED) if strongly_typed else 0)
        parser = trt.OnnxParser(network, logger)
        if graph.model.ByteSize() >= _TWO_GB:
            raise EngineBuildError(f"graph {graph.path.name} is over 2 GB in memory; keep its weights as external data")
        # ``path`` lets the parser resolve external weights relative to the graph's own folder.
        if not parser.parse(graph.model.SerializeToString(), str(graph.path)):
            raise EngineBuildError(
                f"TensorRT {trt_version(trt)} cannot parse {graph.path.name}: {_parser_error(parser)}; check the op "
                "is supported by this TensorRT or file an issue with the graph"
            )
        _keep_outputs(network, self.outputs, graph.path.name)
        return ParsedNetwork(trt, builder, network, parser, logger, graph.path, strongly_typed)


def _parser_error(parser: Any) -> str:
    if not parser.num_errors:
        return "no error reported"
    error = parser.get_error(0)
    where = " ".join(
        str(part)
        for part in (getattr(error, "node_name", lambda: "")(), getattr(error, "node_operator", lambda: "")())
        if part
    )
    # TensorRT puts the reason on the description's later lines ("Invalid Node - n17" / "... keep_ratios is a shape
    # tensor and must have type Int32 or Int64"): keep every line, joined into one.
    lines = [line.strip() for line in str(error.desc()).splitlines() if line.strip()]
    text = "; ".join(lines) if lines else str(error.code())
    more = f" (+{parser.num_errors - 1} more)" if parser.num_errors > 1 else ""
    return f"{text}{f' at node {where}' if where else ''}{more}"


def _keep_outputs(network: Any, keep: tuple[str, ...], graph: str) -> None:
    outputs = [network.get_output(i) for i in range(network.num_outputs)]
    names = [tensor.name for tensor in outputs]
    missing = [name for name in keep if name not in names]
    if missing:
        raise EngineBuildError(f"graph {graph} has no output(s) {missing} (it has {names}); re-export it (acc-export)")
    for tensor in outputs:
        if tensor.name not in keep:
            network.unmark_output(tensor)


@dataclass(frozen=True)
class BuiltEngine:
    """A serialized engine and what it was built for. ``data`` is the plan file's bytes."""

    data: bytes
    backend: str
    trt_version: str
    compute_capability: str
    precision: str
    shapes: ShapeRanges
    build_seconds: float
    network_layers: int


class EngineFromNetwork:
    """``ParsedNetwork`` (or a loader of one) → ``BuiltEngine`` with one optimization profile.

    - ``precision``: ``fp16`` needs a half-precision network when it is strongly typed (wrap the ONNX loader in
      ``Fp16Onnx``), else sets the FP16 flag; ``fp32`` also clears TF32, so fp32 engines are fp32 (the reference).
    - ``shapes``: min/opt/max [batch, seq] for the token inputs; the adjustable graph's ``keep_counts`` [L] is a
      shape input whose *values* range over 1..max seq (``KeepCountsOnnx``); any other input (``keep_ratios`` [L])
      must be static.
    - ``timing_cache``: a file read before and rewritten after the build, so several builds share kernel timings.
    - ``compute_capability``: TensorRT-RTX target (``sm89``...); ``None`` = this GPU. Full TensorRT: ``None`` only.
    """

    def __init__(
        self,
        network_loader: Any,
        precision: str = "fp16",
        shapes: ShapeRanges | None = None,
        timing_cache: str | os.PathLike[str] | None = None,
        compute_capability: str | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise EngineBuildError(f"engine precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        self.network_loader = network_loader
        self.precision = precision
        self.shapes = shapes or ShapeRanges()
        self.timing_cache = Path(timing_cache) if timing_cache is not None else None
        self.compute_capability = parse_cc(compute_capability) if compute_capability else None

    def __call__(self) -> BuiltEngine:
        parsed: ParsedNetwork = resolve(self.network_loader)
        trt, network = parsed.trt, parsed.network
        config = parsed.builder.create_builder_config()
        self._set_precision(parsed, config)
        config.add_optimization_profile(self._profile(parsed))
        target = self._set_target(trt, config)
        cache = self._load_timing_cache(config)
        started = time.perf_counter()
        plan = parsed.builder.build_serialized_network(network, config)
        seconds = time.perf_counter() - started
        if plan is None:
            errors = "; ".join(e for e in parsed.logger.errors[-2:] if e) or "no error logged"
            raise EngineBuildError(
                f"TensorRT {trt_version(trt)} failed to build {parsed.source.name} ({self.precision}, {target}): "
                f"{errors}; try --engine-precision fp32 or smaller --engine-seq"
            )
        if cache is not None:
            self._save_timing_cache(config)
        return BuiltEngine(bytes(memoryview(plan)), backend_name(trt), trt_version(trt), target, self.precision,
                           self.shapes, seconds, int(network.num_layers))  # fmt: skip

    def _set_precision(self, parsed: ParsedNetwork, config: Any) -> None:
        trt = parsed.trt
        flags = trt.BuilderFlag
        if self.precision == "fp32":
            if hasattr(flags, "TF32"):
                config.clear_flag(flags.TF32)
            return
        if not parsed.strongly_typed and hasattr(flags, "FP16"):
            config.set_flag(flags.FP16)
        elif not _has_half(parsed):
            raise EngineBuildError(f"fp16 engine of {parsed.source.name} needs an fp16 graph: this TensorRT builds "
                                   "strongly typed networks; wrap the ONNX loader in Fp16Onnx")  # fmt: skip

    def _profile(self, parsed: ParsedNetwork) -> Any:
        network = parsed.network
        profile = parsed.builder.create_optimization_profile()
        low, opt, high = self.shapes.dims()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            dims = tuple(tensor.shape)
            if tensor.name in TOKEN_INPUTS:
                if len(dims) != 2:
                    raise EngineBuildError(f"input {tensor.name} of {parsed.source.name} has shape {dims}, expected "
                                           "[batch, seq]; re-export the graph")  # fmt: skip
                profile.set_shape(tensor.name, low, opt, high)
            elif tensor.name == KEEP_COUNTS_INPUT or getattr(tensor, "is_shape_tensor", False):
                profile.set_shape_input(tensor.name, *self._width_range(tensor.name, dims, parsed.source.name))
            elif any(d < 0 for d in dims):
                raise EngineBuildError(f"input {tensor.name} of {parsed.source.name} has dynamic shape {dims}; only "
                                       f"{', '.join(TOKEN_INPUTS)} may be dynamic, re-export the graph")  # fmt: skip
        return profile

    def _width_range(self, name: str, dims: tuple[int, ...], graph: str) -> tuple[list[int], list[int], list[int]]:
        """min/opt/max *values* of the ``keep_counts`` shape input: 1 ≤ width ≤ the longest sequence (the widths
        of a full-length batch of the ``opt`` length tune the kernels)."""
        if len(dims) != 1 or dims[0] < 1:
            raise EngineBuildError(f"shape input {name} of {graph} has shape {dims}, expected [num_layers]; re-export "
                                   "the adjustable graph")  # fmt: skip
        layers = dims[0]
        _, opt, high = self.shapes.seq
        return [1] * layers, [opt] * layers, [high] * layers

    def _set_target(self, trt: ModuleType, config: Any) -> str:
        """The GPU is asked only when no target is given (or full TensorRT): an explicit TensorRT-RTX target
        builds ahead of time, with or without a GPU here."""
        if not hasattr(config, "set_compute_capability"):  # full TensorRT: always this GPU
            device = trt_flavour.device_compute_capability()  # via the module: tests replace it there
            if self.compute_capability not in (None, device):
                raise EngineBuildError(f"TensorRT builds only for this GPU ({device}), not {self.compute_capability}; "
                                       "drop the target")  # fmt: skip
            return device
        targets = flavour.rtx_targets(trt)
        target = self.compute_capability or trt_flavour.visible_compute_capability()
        if target is None:
            raise EngineBuildError(f"no CUDA GPU visible for TensorRT-RTX to build for; pass a target, e.g. "
                                   f"compute_capability='sm89' (--engine-target), one of {', '.join(targets)}")  # fmt: skip
        if target not in targets:
            raise EngineBuildError(
                f"TensorRT-RTX {trt_version(trt)} has no target {target} (it has {', '.join(targets)}); pass one of "
                "those as the target (--engine-target)"
            )
        member = "CURRENT" if self.compute_capability is None else target.upper()
        config.num_compute_capabilities = 1
        config.set_compute_capability(getattr(trt.ComputeCapability, member), 0)
        return target

    def _load_timing_cache(self, config: Any) -> Any:
        if self.timing_cache is None:
            return None
        data = self.timing_cache.read_bytes() if self.timing_cache.is_file() else b""
        cache = config.create_timing_cache(data)
        config.set_timing_cache(cache, False)
        return cache

    def _save_timing_cache(self, config: Any) -> None:
        """Rewritten whole (temp file + rename), so an interrupted build never leaves half a cache."""
        cache = config.get_timing_cache()
        if cache is None:
            return
        self.timing_cache.parent.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile("wb", dir=self.timing_cache.parent, delete=False, prefix=".cache.")
        with handle:
            handle.write(bytes(memoryview(cache.serialize())))
        os.replace(handle.name, self.timing_cache)


def _has_half(parsed: ParsedNetwork) -> bool:
    half = parsed.trt.float16
    network = parsed.network
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if any(layer.get_output(j).dtype == half for j in range(layer.num_outputs)):
            return True
    return False


class SaveEngine:
    """Calls ``engine_loader`` (or takes a ``BuiltEngine``), writes its plan to ``path`` and returns it."""

    def __init__(self, engine_loader: Any, path: str | os.PathLike[str]) -> None:
        self.engine_loader = engine_loader
        self.path = Path(path)

    def __call__(self) -> BuiltEngine:
        engine: BuiltEngine = resolve(self.engine_loader)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.partial")
        temporary.write_bytes(engine.data)
        os.replace(temporary, self.path)
        return engine
