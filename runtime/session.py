"""Backends that run one ONNX graph, and the lazy, thread-safe cache of them (one per graph file).

``Backend`` is the protocol every engine runner follows (ORT today, TensorRT later): public ``infer()`` checks the
feeds and calls ``_infer_impl()``. onnxruntime is imported inside the functions that need it, so importing
``acc.runtime`` stays cheap and works where only the policy or the manifest is used.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from acc.exporter.latency_table import cpu_name  # one definition: export-time and runtime tables must match
from acc.profiles import AccError, BundleError, DataError

if TYPE_CHECKING:
    import onnxruntime

DEVICES = ("cpu", "cuda")
_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


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


def gpu_name() -> str:
    """Name of the GPU ORT's CUDA EP uses (the first visible one), as ``nvidia-smi`` and ``torch`` spell it.

    Asked of ``nvidia-smi`` rather than torch so the runtime never imports torch; ``CUDA_VISIBLE_DEVICES`` is read
    now, at call time, because it decides which physical GPU is device 0. When nothing answers, ``"cuda"``: rows
    of unnamed GPUs then share one key instead of failing a load that would otherwise run.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    command = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", visible or "0"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return "cuda"
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return lines[0] if lines else "cuda"


def device_name(device: str) -> str:
    """The ``device`` key of latency rows for a resolved device: the CPU model, or the GPU name on ``cuda``."""
    if device == "cpu":
        return cpu_name()
    if device == "cuda":
        return gpu_name()
    raise BackendError(f"unknown device {device!r}; pass one of {', '.join(repr(d) for d in DEVICES)}")


def _ort_errors() -> tuple[type[BaseException], ...]:
    """onnxruntime's own exception classes (they derive from Exception, not RuntimeError) plus OS errors."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    own = tuple(obj for obj in vars(state).values() if isinstance(obj, type) and issubclass(obj, Exception))
    return (*own, OSError, RuntimeError)


def _first_line(exc: BaseException, limit: int = 240) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _providers(device: str) -> list[str]:
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
    return [_PROVIDERS["cuda"], _PROVIDERS["cpu"]]


class OrtBackend(Backend):
    """One ``onnxruntime.InferenceSession``. ORT sessions are thread-safe for ``run``, so one serves all threads.

    The graph is loaded by path, so its external data (``graphs/weights.bin``) resolves next to it; ORT refuses
    external-data locations that climb out of the graph's folder, which is why the weights live in ``graphs/``.
    """

    def __init__(
        self,
        graph_path: str | os.PathLike[str],
        *,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        self.graph_path = Path(graph_path)
        self.device = device
        self.name = f"ort-{device}"
        self._session = self._create_session(_providers(device), threads)
        if device == "cuda" and _PROVIDERS["cuda"] not in self._session.get_providers():
            raise BackendError(
                f"onnxruntime fell back to CPU for {self.graph_path.name} (CUDA EP failed to initialise: driver, CUDA "
                "or cuDNN libraries missing); check `nvidia-smi` and the CUDA 12 libraries, or pass device='cpu'"
            )
        self.input_names = tuple(node.name for node in self._session.get_inputs())
        self.output_names = tuple(node.name for node in self._session.get_outputs())

    def _create_session(self, providers: list[str], threads: int | None) -> onnxruntime.InferenceSession:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads is not None:
            if threads < 1:
                raise BackendError(f"threads must be >= 1, got {threads}; pass None for onnxruntime's default")
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            return onnxruntime.InferenceSession(str(self.graph_path), options, providers=providers)
        except _ort_errors() as exc:
            raise BundleError(
                f"cannot load graph {self.graph_path} ({_first_line(exc)}); the graph or its weights are corrupted or "
                "incomplete, re-export the bundle with acc-export"
            ) from exc

    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            outputs = self._session.run(None, feeds)
        except _ort_errors() as exc:
            shapes = {name: (tuple(value.shape), str(value.dtype)) for name, value in feeds.items()}
            raise BackendError(
                f"graph {self.graph_path.name} failed on inputs {shapes} ({_first_line(exc)}); check the input "
                "shapes and dtypes (int64 [batch, seq]) or re-export the bundle"
            ) from exc
        return dict(zip(self.output_names, outputs))


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


def ort_factory(device: str, threads: int | None = None) -> BackendFactory:
    """A ``SessionCache`` factory making ``OrtBackend``s with a fixed device and thread count."""

    def make(graph_path: Path) -> Backend:
        return OrtBackend(graph_path, device=device, threads=threads)

    return make

