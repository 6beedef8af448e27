"""Backends that run one ONNX graph, and the lazy, thread-safe cache of them (one per graph file).

``Backend`` is the protocol every engine runner follows (``OrtBackend`` here, ``TrtBackend`` in ``trt_backend``): public
``infer()`` checks the feeds and calls ``_infer_impl()``. onnxruntime is imported inside the functions that need it, so
importing ``acc.runtime`` stays cheap and works where only the policy or the manifest is used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from acc.profiles import DataError

from .buckets import Buckets
from .graph_widths import data_dependent_widths
from .keep_widths import KEEP_COUNTS_INPUT, KEEP_RATIOS_INPUT, bucket_widths, keep_widths
from .ort_binding import LOGITS, BucketRunner, run_bound, run_plain
from .ort_session import (
    DEVICES,
    PROVIDERS,
    BackendError,
    create_session,
    first_line,
    ort_errors,
    run_options,
    session_options,
)

if TYPE_CHECKING:
    import onnxruntime

    from .bundle_format import Manifest
    from .verified_graphs import VerifiedGraph

BATCH_AXIS, SEQUENCE_AXIS = "batch", "sequence"  # the exporter's dynamic axis names of every input


class Backend(Protocol):
    """Runs one graph. ``name`` is the latency-table key (``ort-cpu``, ``ort-cuda``, later ``trt``)."""

    name: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the graph on the inputs it declares; extra feeds are ignored (not every graph has token_type_ids)."""
        missing = [name for name in self.input_names if name not in feeds]
        if missing:
            raise DataError(f"graph input(s) {missing} not in feeds {sorted(feeds)}; pass every input the graph takes")
        return self._infer_impl({name: feeds[name] for name in self.input_names})

    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def available_ort_providers() -> list[str]:
    """Execution providers of the installed onnxruntime (CPU-only wheels list no CUDA)."""
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when the installed onnxruntime has the CUDA EP, else ``cpu``; others are checked."""
    if device == "auto":
        return "cuda" if PROVIDERS["cuda"] in available_ort_providers() else "cpu"
    if device not in DEVICES:
        raise BackendError(f"unknown device {device!r}; pass one of 'auto', {', '.join(repr(d) for d in DEVICES)}")
    return device


class OrtBackend(Backend):
    """One ``onnxruntime.InferenceSession``. ORT sessions are thread-safe for ``run``, so one serves all threads.

    The graph is loaded by path, so its external data (``graphs/weights.bin``) resolves next to it; ORT refuses
    external-data locations that climb out of the graph's folder, which is why the weights live in ``graphs/``.
    Session options depend only on ``threads``, never on the graph, so a dense and an ACC graph are timed alike.

    - ``io_binding`` (default: on for CUDA): inputs are copied to the device once and outputs back once per run,
      instead of ``run``'s per-call staging (``acc.runtime.ort_binding``).
    - ``buckets``: pad each request to a fixed (batch, seq) bucket and run through per-bucket buffers; returns
      ``logits`` only. ``cuda_graph=True`` (CUDA only) adds ORT's CUDA graphs, one per bucket; refused for graphs
      whose TopK widths depend on input values (``graph_widths``): static-width ACC graphs qualify, as does the
      keep-counts adjustable graph (fed the bucket's widths). ``min_keep`` is needed only to compute those widths.
    - ``fixed_shapes`` (with ``buckets``): one session per bucket with the bucket's sizes fixed, so ORT folds the
      shape arithmetic and every node stays on the GPU (see ``ort_binding``).
    - ``outputs``: which outputs ``infer`` returns (default all).
    - ``verified``: the graph's checked bytes and external data (``acc.runtime.verified_graphs``); the session is
      built from them and ``graph_path`` only names it in messages. ``Runtime`` always passes them.
    - ``release_arena`` (default on): each run hands the CPU arena's growth back (``ort_session.run_options``), so
      memory returns to its idle level after a large request; off keeps the arena at its high-water mark.
    """

    def __init__(
        self,
        graph_path: str | os.PathLike[str],
        *,
        device: str = "cpu",
        threads: int | None = None,
        io_binding: bool | None = None,
        buckets: Buckets | None = None,
        cuda_graph: bool = False,
        outputs: Sequence[str] | None = None,
        min_keep: int = 1,
        fixed_shapes: bool = False,
        verified: VerifiedGraph | None = None,
        release_arena: bool = True,
    ) -> None:
        self.graph_path = Path(graph_path)
        self._verified = verified
        self.device = device
        self.name = f"ort-{device}"
        if cuda_graph:
            _check_cuda_graph(self.graph_path, device, None if verified is None else verified.model)
            buckets = buckets or Buckets()
        if fixed_shapes and buckets is None:
            raise BackendError("fixed_shapes=True needs buckets (the shapes to fix); pass buckets=Buckets(...)")
        self._cuda_graph = cuda_graph
        self._threads = threads
        self._session = self._create_session(threads)
        self._run_options = run_options(release_arena)
        self.input_names = tuple(node.name for node in self._session.get_inputs())
        all_outputs = tuple(node.name for node in self._session.get_outputs())
        self.output_names = tuple(outputs) if outputs is not None else all_outputs
        unknown = [name for name in self.output_names if name not in all_outputs]
        if unknown:
            raise BackendError(f"graph {self.graph_path.name} has no output(s) {unknown} (has {list(all_outputs)})")
        self.io_binding = (device == "cuda") if io_binding is None else bool(io_binding)
        self.min_keep = min_keep
        per_shape = self._fixed_session if fixed_shapes else None
        self._buckets = (
            BucketRunner(self._session, device, buckets, cuda_graph, per_shape) if buckets is not None else None
        )
        if self._buckets is not None:
            self.output_names = (LOGITS,)

    def _fixed_session(self, shape: tuple[int, int]) -> onnxruntime.InferenceSession:
        """A session with ``batch`` and ``sequence`` fixed to ``shape`` (ORT folds every Shape-derived value)."""
        return self._create_session(self._threads, {BATCH_AXIS: shape[0], SEQUENCE_AXIS: shape[1]})

    def _create_session(
        self, threads: int | None, fixed_dims: Mapping[str, int] | None = None
    ) -> onnxruntime.InferenceSession:
        verified = self._verified
        return create_session(
            self.graph_path if verified is None else verified.model,
            device=self.device,
            options=session_options(self.device, threads, fixed_dims),
            cuda_graph=self._cuda_graph,
            external=None if verified is None else verified.external,
            name=self.graph_path,
        )

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``Backend.infer``; for the keep-counts graph, ``keep_counts`` is computed here from ``keep_ratios``."""
        if KEEP_COUNTS_INPUT in self.input_names and KEEP_COUNTS_INPUT not in feeds:
            feeds = {**feeds, KEEP_COUNTS_INPUT: self._widths(feeds)}
        return Backend.infer(self, feeds)

    def _widths(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        if KEEP_RATIOS_INPUT not in feeds or "attention_mask" not in feeds:
            raise DataError(f"graph {self.graph_path.name} needs keep_ratios and attention_mask to compute "
                            "keep_counts; pass both")  # fmt: skip
        ratios = [float(r) for r in np.asarray(feeds[KEEP_RATIOS_INPUT]).reshape(-1)]
        if self._buckets is not None:  # constant per bucket, so a captured CUDA graph replays correct widths
            _, seq = self._buckets.buckets.shape_for(*np.shape(feeds["attention_mask"]))
            return bucket_widths(ratios, seq, self.min_keep)
        return keep_widths(ratios, feeds["attention_mask"], self.min_keep)

    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            if self._buckets is not None:
                return self._buckets.run(feeds)
            if self.io_binding:
                outputs = run_bound(self._session, feeds, self.output_names, self.device, self._run_options)
            else:
                outputs = run_plain(self._session, feeds, self.output_names, self._run_options)
        except ort_errors() as exc:
            shapes = {name: (tuple(value.shape), str(value.dtype)) for name, value in feeds.items()}
            raise BackendError(
                f"graph {self.graph_path.name} failed on inputs {shapes} ({first_line(exc)}); check the input "
                "shapes and dtypes (int64 [batch, seq]) or re-export the bundle"
            ) from exc
        return dict(zip(self.output_names, outputs))


def _check_cuda_graph(graph_path: Path, device: str, verified_bytes: bytes | None = None) -> None:
    """CUDA graphs only on CUDA, and only for graphs whose shapes follow the bucket (see ``ort_binding``).

    ``verified_bytes``: the graph as the session will get it (what was checked), read instead of the file."""
    import onnx

    if device != "cuda":
        raise BackendError(f"cuda_graph=True needs device='cuda', not {device!r}; drop cuda_graph on CPU")
    if verified_bytes is not None:
        model = onnx.load_from_string(verified_bytes)
    else:
        model = onnx.load(str(graph_path), load_external_data=False)
    dependent = data_dependent_widths(model, host_inputs=(KEEP_COUNTS_INPUT,))
    if dependent:
        raise BackendError(
            f"graph {graph_path.name} computes {len(dependent)} TopK width(s) from input values, which a CUDA graph "
            "would replay stale; re-export with this acc-deploy (static widths), use the keep-counts adjustable graph "
            "(acc.exporter.engines.KeepCountsOnnx) or pass cuda_graph=False"
        )


BackendFactory = Callable[[Path], Backend]


class SessionCache:
    """Backends keyed by graph path, created on first use and then shared by every thread.

    One lock guards creation, so two threads asking for the same new graph build it once. Lookups of an existing
    backend take the lock only briefly; ``infer`` itself runs outside it.
    """

    def __init__(self, factory: BackendFactory) -> None:
        self._factory = factory
        self._backends: dict[Path, Backend] = {}
        self._lock = threading.Lock()

    def get(self, graph_path: str | os.PathLike[str]) -> Backend:
        key = Path(graph_path)
        with self._lock:
            backend = self._backends.get(key)
            if backend is None:
                backend = self._factory(key)
                self._backends[key] = backend
            return backend

    def cached(self) -> list[Path]:
        """Graphs whose backend exists (diagnostics and tests)."""
        with self._lock:
            return list(self._backends)

    def clear(self) -> None:
        """Drop every backend; their sessions are released when no request holds them any more."""
        with self._lock:
            self._backends.clear()


def ort_factory(
    device: str,
    threads: int | None = None,
    precision: str = "fp32",
    manifest: Manifest | None = None,
    **options: Any,
) -> VerifiedOrtFactory:
    """A ``SessionCache`` factory making ``OrtBackend``s with a fixed device, thread count and graph precision.

    The cache is keyed by the fp32 graph path (what the manifest names); ``precision`` picks the variant file
    beside it (``graphs/s3.fp16.onnx``, see ``acc.runtime.precision``). With ``manifest`` every session is built from
    that bundle's verified bytes (``acc.runtime.verified_graphs``). ``options`` go to ``OrtBackend``.
    """
    return VerifiedOrtFactory(device, threads, precision, manifest, options)


class VerifiedOrtFactory:
    """The factory ``ort_factory`` returns. ``external_cache``: set to a dict while loading several graphs at once
    so they share one verified read of their weights; ``None`` (the default) reads per session and holds nothing."""

    def __init__(self, device: str, threads: int | None, precision: str, manifest: Manifest | None,
                 options: dict[str, Any]) -> None:  # fmt: skip
        self.device, self.threads, self.precision, self.manifest, self.options = (device, threads, precision,
                                                                                 manifest, options)  # fmt: skip
        self.external_cache: dict[str, bytes] | None = None

    def __call__(self, graph_path: Path) -> Backend:
        from .precision import variant_file

        path = variant_file(graph_path, self.precision)
        verified = None
        if self.manifest is not None:
            from .verified_graphs import read_graph

            relative = path.relative_to(self.manifest.bundle_dir).as_posix()
            verified = read_graph(self.manifest, relative, self.external_cache)
        return OrtBackend(path, device=self.device, threads=self.threads, verified=verified, **self.options)
