"""The one place an ONNX Runtime ``InferenceSession`` is created: providers, options, external weights, errors.

Every session of the runtime (``OrtBackend``, the causal LM's prefill and decode graphs) and of ``acc-bench`` comes
from :func:`create_session`, so a graph is loaded alike wherever it runs and a failure reads the same: one line
naming the graph and the fix. onnxruntime is imported when a session is made, not when this module is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import AccError, BundleError

from .custom_ops import register as register_custom_ops

if TYPE_CHECKING:
    import onnxruntime

DEVICES = ("cpu", "cuda")
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class BackendError(AccError):
    """A backend or device that is not available in this environment (e.g. CUDA without onnxruntime-gpu)."""


def providers_for(device: str, cuda_graph: bool = False) -> list[Any]:
    """Provider list for a device; for CUDA, preload the CUDA/cuDNN libraries of the pip wheels first."""
    import onnxruntime

    if device == "cpu":
        return [PROVIDERS["cpu"]]
    if device != "cuda":
        raise BackendError(f"unknown device {device!r}; pass one of {', '.join(repr(d) for d in DEVICES)}")
    available = list(onnxruntime.get_available_providers())
    if PROVIDERS["cuda"] not in available:
        raise BackendError(
            f"device='cuda' needs onnxruntime-gpu, but onnxruntime {onnxruntime.__version__} here has only "
            f"{available}; pip install 'acc-deploy[gpu]' (it replaces onnxruntime) or pass device='cpu'"
        )
    if hasattr(onnxruntime, "preload_dlls"):
        onnxruntime.preload_dlls()
    cuda = (PROVIDERS["cuda"], {"enable_cuda_graph": "1"}) if cuda_graph else PROVIDERS["cuda"]
    return [cuda, PROVIDERS["cpu"]]


def session_options(
    device: str = "cpu", threads: int | None = None, fixed_dims: Mapping[str, int] | None = None
) -> onnxruntime.SessionOptions:
    """The runtime's options: ``threads`` intra-op threads (None: ORT's default), dims fixed by name, and on CUDA
    our AccScore kernel for fused-form graphs (on CPU ORT's own ops run the function body faster than our loop)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    for axis, size in (fixed_dims or {}).items():
        options.add_free_dimension_override_by_name(axis, size)
    if threads is not None:
        if threads < 1:
            raise BackendError(f"threads must be >= 1, got {threads}; pass None for onnxruntime's default")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if device == "cuda":
        register_custom_ops(options, device="cuda")
    return options


def create_session(
    model: str | Path | bytes,
    *,
    device: str = "cpu",
    options: onnxruntime.SessionOptions | None = None,
    threads: int | None = None,
    cuda_graph: bool = False,
    external: Mapping[str, bytes] | None = None,
    name: str | Path | None = None,
) -> onnxruntime.InferenceSession:
    """A session for ``model`` (a graph path, or verified graph bytes with their ``external`` weights in memory).

    ``options``: session options to use as they are (``acc-bench`` records its own; ``external`` is added to them);
    default :func:`session_options` for ``device`` and ``threads``. ``name`` names the graph in errors.
    """
    import onnxruntime

    graph = str(name if name is not None else (model if not isinstance(model, bytes) else "<graph bytes>"))
    providers = providers_for(device, cuda_graph)
    options = options if options is not None else session_options(device, threads)
    if external:
        names = list(external)
        buffers = [external[item] for item in names]
        options.add_external_initializers_from_files_in_memory(names, buffers, [len(b) for b in buffers])
    source = str(model) if isinstance(model, Path) else model
    try:
        session = onnxruntime.InferenceSession(source, options, providers=providers)
    except ort_errors() as exc:
        raise _load_error(exc, graph, providers, onnxruntime.__version__) from exc
    if device == "cuda" and PROVIDERS["cuda"] not in session.get_providers():
        raise BackendError(
            f"onnxruntime fell back to CPU for {Path(graph).name} (CUDA EP failed to initialise: driver, CUDA or cuDNN "
            "libraries missing); check `nvidia-smi` and the CUDA 12 libraries, or pass device='cpu'"
        )
    return session


ARENA_SHRINKAGE = ("memory.enable_memory_arena_shrinkage", "cpu:0")


def run_options(release_arena: bool = True) -> onnxruntime.RunOptions:
    """Options for every graph run: with ``release_arena``, ORT hands the CPU arena's memory beyond its first block
    back at the end of each run, so one large request does not leave the process at its high-water mark (bert-sst2,
    one 16 x 512-token run: 451 MB stay resident with the arena kept, 3 MB released; one-text latency within noise:
    benchmarks/results/reliability-arena-bert-sst2_20261208T002302Z.md)."""
    import onnxruntime

    options = onnxruntime.RunOptions()
    if release_arena:
        options.add_run_config_entry(*ARENA_SHRINKAGE)
    return options


def ort_errors() -> tuple[type[BaseException], ...]:
    """onnxruntime's own exception classes (they derive from Exception, not RuntimeError) plus OS errors."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    own = tuple(obj for obj in vars(state).values() if isinstance(obj, type) and issubclass(obj, Exception))
    return (*own, OSError, RuntimeError)


def first_line(exc: BaseException, limit: int = 240) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _load_error(exc: BaseException, graph: str, providers: list[Any], version: str) -> AccError:
    """One line for a failed load: a missing kernel, a graph CUDA graphs cannot capture, or a bad file."""
    first = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if "NOT_IMPLEMENTED" in str(exc) or type(exc).__name__ == "NotImplemented":
        return BackendError(
            f"onnxruntime {version} has no kernel for a node of {Path(graph).name} on {first} ({first_line(exc)}); "
            "fp16 graphs need kernels some CPU builds lack: pass precision='fp32' here, or run on CUDA"
        )
    if "CUDA Graph" in str(exc) or "cuda graph" in str(exc).lower():
        return BackendError(
            f"onnxruntime cannot capture {Path(graph).name} as a CUDA graph ({first_line(exc)}); pass "
            "cuda_graph=False (IO binding still applies)"
        )
    return BundleError(
        f"cannot load graph {graph} ({first_line(exc)}); the graph or its weights are corrupted or incomplete, "
        "re-export the bundle with acc-export"
    )
