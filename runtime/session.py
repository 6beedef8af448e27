"""Backends that run one ONNX graph, and the lazy, thread-safe cache of them (one per graph file).

``Backend`` is the protocol every engine runner follows (ORT today, TensorRT later): public ``infer()`` checks the
feeds and calls ``_infer_impl()``. onnxruntime is imported inside the functions that need it, so importing
``acc.runtime`` stays cheap and works where only the policy or the manifest is used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from acc.profiles import AccError, BundleError, DataError

from .buckets import Buckets
from .custom_ops import register as register_custom_ops
from .graph_widths import data_dependent_widths
from .keep_widths import KEEP_COUNTS_INPUT, KEEP_RATIOS_INPUT, bucket_widths, keep_widths
from .ort_binding import LOGITS, BucketRunner, run_bound, run_plain

if TYPE_CHECKING:
    import onnxruntime

    from .manifest import Manifest
    from .verified_graphs import VerifiedGraph

DEVICES = ("cpu", "cuda")
_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
BATCH_AXIS, SEQUENCE_AXIS = "batch", "sequence"  # the exporter's dynamic axis names of every input


class BackendError(AccError):
    """A backend or device that is not available in this environment (e.g. CUDA without onnxruntime-gpu)."""


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
        return "cuda" if _PROVIDERS["cuda"] in available_ort_providers() else "cpu"
    if device not in DEVICES:
        raise BackendError(f"unknown device {device!r}; pass one of 'auto', {', '.join(repr(d) for d in DEVICES)}")
    return device


def _ort_errors() -> tuple[type[BaseException], ...]:
    """onnxruntime's own exception classes (they derive from Exception, not RuntimeError) plus OS errors."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    own = tuple(obj for obj in vars(state).values() if isinstance(obj, type) and issubclass(obj, Exception))
    return (*own, OSError, RuntimeError)


def _first_line(exc: BaseException, limit: int = 240) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _providers(device: str, cuda_graph: bool = False) -> list[Any]:
    """Provider list for a device; for CUDA, preload the CUDA/cuDNN libraries of the pip wheels first."""
    import onnxruntime

    if device == "cpu":
        return [_PROVIDERS["cpu"]]
    if device != "cuda":
        raise BackendError(f"unknown device {device!r}; pass one of {', '.join(repr(d) for d in DEVICES)}")
    available = list(onnxruntime.get_available_providers())
    if _PROVIDERS["cuda"] not in available:
        raise BackendError(
            f"device='cuda' needs onnxruntime-gpu, but onnxruntime {onnxruntime.__version__} here has only "
            f"{available}; pip install 'acc-deploy[gpu]' (it replaces onnxruntime) or pass device='cpu'"
        )
    if hasattr(onnxruntime, "preload_dlls"):
        onnxruntime.preload_dlls()
    cuda = (_PROVIDERS["cuda"], {"enable_cuda_graph": "1"}) if cuda_graph else _PROVIDERS["cuda"]
    return [cuda, _PROVIDERS["cpu"]]


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
        self._providers = _providers(device, cuda_graph)
        self._threads = threads
        self._session = self._create_session(self._providers, threads)
        if device == "cuda" and _PROVIDERS["cuda"] not in self._session.get_providers():
            raise BackendError(
                f"onnxruntime fell back to CPU for {self.graph_path.name} (CUDA EP failed to initialise: driver, CUDA "
                "or cuDNN libraries missing); check `nvidia-smi` and the CUDA 12 libraries, or pass device='cpu'"
            )
        self.input_names = tuple(node.name for node in self._session.get_inputs())
        all_outputs = tuple(node.name for node in self._session.get_outputs())
        self.output_names = tuple(outputs) if outputs is not None else all_outputs
        unknown = [name for name in self.output_names if name not in all_outputs]
        if unknown:
            raise BackendError(f"graph {self.graph_path.name} has no output(s) {unknown} (has {list(all_outputs)})")
        self.io_binding = (device == "cuda") if io_binding is None else bool(io_binding)
        self.min_keep = min_keep
        per_shape = self._fixed_session if fixed_shapes else None
        self._buckets = BucketRunner(self._session, device, buckets, cuda_graph, per_shape) if buckets is not None else None
        if self._buckets is not None:
            self.output_names = (LOGITS,)

    def _fixed_session(self, shape: tuple[int, int]) -> onnxruntime.InferenceSession:
        """A session with ``batch`` and ``sequence`` fixed to ``shape`` (ORT folds every Shape-derived value)."""
        return self._create_session(self._providers, self._threads, {BATCH_AXIS: shape[0], SEQUENCE_AXIS: shape[1]})

    def _create_session(
        self, providers: list[Any], threads: int | None, fixed_dims: Mapping[str, int] | None = None
    ) -> onnxruntime.InferenceSession:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        for axis, size in (fixed_dims or {}).items():
            options.add_free_dimension_override_by_name(axis, size)
        if threads is not None:
            if threads < 1:
                raise BackendError(f"threads must be >= 1, got {threads}; pass None for onnxruntime's default")
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if self.device == "cuda":  # fused-form graphs: our AccScore kernel instead of its function body
            register_custom_ops(options, device="cuda")  # (on CPU ORT's own ops run the body faster than our loop)
        model: str | bytes = str(self.graph_path)
        if self._verified is not None:
            model = self._verified.model
            if self._verified.external:
                names = list(self._verified.external)
                buffers = [self._verified.external[name] for name in names]
                options.add_external_initializers_from_files_in_memory(names, buffers, [len(b) for b in buffers])
        try:
            return onnxruntime.InferenceSession(model, options, providers=providers)
        except _ort_errors() as exc:
            if "NOT_IMPLEMENTED" in str(exc) or type(exc).__name__ == "NotImplemented":
                raise BackendError(
                    f"onnxruntime {onnxruntime.__version__} has no kernel for a node of {self.graph_path.name} on "
                    f"{providers[0] if isinstance(providers[0], str) else providers[0][0]} ({_first_line(exc)}); "
                    "fp16 graphs need kernels some CPU builds lack: pass precision='fp32' here, or run on CUDA"
                ) from exc
            if "CUDA Graph" in str(exc) or "cuda graph" in str(exc).lower():
                raise BackendError(
                    f"onnxruntime cannot capture {self.graph_path.name} as a CUDA graph ({_first_line(exc)}); pass "
                    "cuda_graph=False (IO binding still applies)"
                ) from exc
            raise BundleError(
                f"cannot load graph {self.graph_path} ({_first_line(exc)}); the graph or its weights are corrupted or "
                "incomplete, re-export the bundle with acc-export"
            ) from exc

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
                outputs = run_bound(self._session, feeds, self.output_names, self.device)
            else:
                outputs = run_plain(self._session, feeds, self.output_names)
        except _ort_errors() as exc:
            shapes = {name: (tuple(value.shape), str(value.dtype)) for name, value in feeds.items()}
            raise BackendError(
                f"graph {self.graph_path.name} failed on inputs {shapes} ({_first_line(exc)}); check the input "
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
