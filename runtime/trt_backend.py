"""``TrtBackend``: runs a prebuilt TensorRT / TensorRT-RTX engine from a bundle, after checking it belongs here.

Two halves, kept apart on purpose:

- *Checks* (pure functions, unit-tested on CPU): an engine runs only under the TensorRT flavour and release that
  built it, on a GPU of the compute capability it was built for. Deserializing a foreign engine fails deep inside
  TensorRT with a message that names neither side, so we refuse first, in one line that names both and the fix.
- *The run path* (``_EngineRunner``): deserialize, one execution context, torch CUDA buffers, host buffers for
  shape inputs (the adjustable engine's ``keep_counts``), ``execute_async_v3``.
  It needs a GPU that can execute the engine, so it is not run in CI (TensorRT-RTX engines cannot execute on
  compute capability 9.0, the only GPU our device runs have).

TensorRT and torch are imported inside the functions that use them.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from acc.profiles import BundleError, DataError, EngineBuildError

from .keep_widths import KEEP_COUNTS_INPUT, KEEP_RATIOS_INPUT, keep_widths
from .session import Backend, BackendError
from .trt_flavour import backend_name, parse_cc, trt_module, trt_version, visible_compute_capability

REBUILD = "rebuild it with `acc-export --engine trt` on this device"


class EngineMismatchError(EngineBuildError):
    """An engine built for another GPU, TensorRT flavour or TensorRT release than the ones here."""


class EngineKey(Protocol):
    """What the checks read from an engine entry (``acc.runtime.EngineEntry``)."""

    profile: str
    backend: str
    compute_capability: str
    precision: str
    file: str
    trt_version: str | None


# ----------------------------------------------------------------------------------------------------- checks


def trt_release(version: str) -> tuple[int, ...]:
    """``"10.3.0.30"`` → ``(10, 3, 0)``: the part of a TensorRT version that must match (its build may differ)."""
    numbers = re.findall(r"\d+", str(version))
    return tuple(int(n) for n in numbers[:3])


def check_backend(record: EngineKey, backend: str) -> None:
    if record.backend != backend:
        raise EngineMismatchError(
            f"engine {record.file} was built by {record.backend}, but this runtime has {backend}; install "
            f"{record.backend} or {REBUILD}"
        )


def check_trt_version(record: EngineKey, version: str) -> None:
    built = record.trt_version
    if not built:
        raise EngineMismatchError(f"engine {record.file} does not record its TensorRT version; {REBUILD}")
    if not trt_release(built) or trt_release(built) != trt_release(version):
        raise EngineMismatchError(
            f"engine {record.file} was built with {record.backend} {built}, this is {version} (engines only load in "
            f"the release that built them); install {record.backend} {built} or {REBUILD}"
        )


def check_compute_capability(record: EngineKey, device_cc: str) -> None:
    if _cc(record.compute_capability) != _cc(device_cc):
        raise EngineMismatchError(
            f"engine {record.file} was built for {record.compute_capability}, this GPU is {device_cc}; {REBUILD}"
        )


def check_engine_compatible(record: EngineKey, *, backend: str, trt_version: str, device_cc: str) -> None:
    """All three checks, flavour first (a version compares only within one flavour); raises on the first miss."""
    check_backend(record, backend)
    check_trt_version(record, trt_version)
    check_compute_capability(record, device_cc)


def check_input_shape(name: str, shape: Sequence[int], low: Sequence[int], high: Sequence[int]) -> None:
    """An input must lie inside the engine's optimization profile, dimension by dimension."""
    shape, low, high = tuple(shape), tuple(low), tuple(high)
    if len(shape) != len(low) or any(not lo <= d <= hi for d, lo, hi in zip(shape, low, high)):
        raise DataError(
            f"input {name} has shape {list(shape)}, outside the engine's range {list(low)}..{list(high)}; split or "
            "pad the batch to fit, or rebuild with wider --engine-batch/--engine-seq"
        )


def _cc(text: str) -> str:
    try:
        return parse_cc(text)
    except EngineBuildError:
        return str(text)


# ---------------------------------------------------------------------------------------------------- backend


class TrtBackend(Backend):
    """One engine of a bundle. ``name`` is the record's backend (``tensorrt`` / ``tensorrt-rtx``).

    ``device_cc`` and ``trt`` default to this machine's GPU and installed TensorRT; pass them only in tests.
    ``verified``: the engine's bytes as checked against the manifest (``Manifest.read_file``), so the bytes
    deserialized are the bytes verified; without it the file is read from ``engine_path``. The
    execution context is not thread-safe, so ``infer`` calls are serialised by the runner's lock. An engine of the
    adjustable graph takes ``keep_counts`` (TopK widths, a shape input): computed here from ``keep_ratios`` and the
    mask with the graph's own arithmetic (``keep_widths``), so callers feed the same inputs as to ORT.
    """

    def __init__(
        self,
        engine_path: str | os.PathLike[str],
        record: EngineKey,
        *,
        device_cc: str | None = None,
        trt: ModuleType | None = None,
        min_keep: int = 1,
        verified: bytes | None = None,
    ) -> None:
        trt = trt or trt_module()
        device_cc = device_cc or visible_compute_capability()
        if device_cc is None:  # e.g. CI, where TensorRT-RTX builds engines ahead of time but nothing can run them
            raise BackendError(
                f"engine {record.file} needs a CUDA GPU of compute capability {record.compute_capability} to run, "
                "and none is visible here; run it on such a GPU, or use the ONNX Runtime backend (the bundle's graphs)"
            )
        check_engine_compatible(record, backend=backend_name(trt), trt_version=trt_version(trt), device_cc=device_cc)
        self.engine_path = Path(engine_path)
        if verified is None and not self.engine_path.is_file():
            raise BundleError(f"engine file {self.engine_path} is missing; copy the whole bundle again or {REBUILD}")
        self.record = record
        self.name = record.backend
        self.min_keep = min_keep
        self._runner = _EngineRunner(trt, self.engine_path, verified)
        self.input_names = self._runner.input_names
        self.output_names = self._runner.output_names

    def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if KEEP_COUNTS_INPUT in self.input_names and KEEP_COUNTS_INPUT not in feeds:
            if KEEP_RATIOS_INPUT not in feeds or "attention_mask" not in feeds:
                raise DataError(f"engine {self.engine_path.name} needs keep_ratios and attention_mask; pass both")
            ratios = [float(r) for r in np.asarray(feeds[KEEP_RATIOS_INPUT]).reshape(-1)]
            feeds = {**feeds, KEEP_COUNTS_INPUT: keep_widths(ratios, feeds["attention_mask"], self.min_keep)}
        return Backend.infer(self, feeds)

    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._runner.run(feeds)


def check_shape_values(name: str, values: Sequence[int], low: Sequence[int], high: Sequence[int]) -> None:
    """A shape input's *values* (``keep_counts``) must lie inside the engine profile's min/max values."""
    values, low, high = [int(v) for v in values], [int(v) for v in low], [int(v) for v in high]
    if len(values) != len(low) or any(not lo <= v <= hi for v, lo, hi in zip(values, low, high)):
        raise DataError(
            f"input {name} = {values} is outside the engine's range {low}..{high}; pad or split the batch to fit, "
            "or rebuild with a wider --engine-seq"
        )


class _EngineRunner:
    """The run path: one deserialized engine and execution context; buffers are torch CUDA tensors per call.

    Execution tensors live on the GPU (torch allocates them on our stream); shape inputs (``keep_counts``) are
    read by TensorRT on the host, so their address is a host numpy buffer kept alive for the call. Outputs are
    sized after every input shape and shape value is set, from the context (all static once inputs are known:
    engines keep only ``logits``).
    """

    def __init__(self, trt: ModuleType, path: Path, verified: bytes | None = None) -> None:
        try:
            import torch
        except ImportError as exc:
            raise BackendError(
                f"engine {path.name} runs on torch CUDA buffers and torch is not installed; pip install "
                "torch (a CUDA build), or use the ORT backend (the bundle's graphs)"
            ) from exc
        if not torch.cuda.is_available():
            raise BackendError(f"engine {path.name} needs a CUDA GPU that torch can see; use the ORT backend here")
        self._torch = torch
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes() if verified is None else verified)
        if self._engine is None:
            raise BundleError(f"TensorRT could not load engine {path} (corrupt, or another GPU/release); {REBUILD}")
        self._context = self._engine.create_execution_context()
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.input_names = tuple(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_names = tuple(n for n in names if n not in self.input_names)
        self._dtypes = {n: np.dtype(trt.nptype(engine.get_tensor_dtype(n))) for n in names}
        self._host = {n for n in self.input_names if engine.is_shape_inference_io(n)}
        dynamic = [n for n in self.input_names if -1 in tuple(engine.get_tensor_shape(n)) and n not in self._host]
        self._ranges: dict[str, Any] = {n: engine.get_tensor_profile_shape(n, 0) for n in dynamic}
        self._values: dict[str, Any] = {n: engine.get_tensor_profile_values(0, n) for n in self._host}
        self._stream = torch.cuda.Stream()
        self._lock = threading.Lock()

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        with self._lock, torch.cuda.stream(self._stream):
            held = []  # inputs (device tensors, host arrays) must stay alive until the stream is done
            for name in self.input_names:
                array = np.ascontiguousarray(feeds[name], dtype=self._dtypes[name])
                if name in self._host:
                    low, _, high = self._values[name]
                    check_shape_values(name, array.reshape(-1), tuple(low), tuple(high))
                    self._context.set_input_shape(name, tuple(array.shape))
                    self._context.set_tensor_address(name, array.ctypes.data)
                    held.append(array)
                    continue
                if name in self._ranges:
                    low, _, high = self._ranges[name]
                    check_input_shape(name, array.shape, tuple(low), tuple(high))
                    self._context.set_input_shape(name, tuple(array.shape))
                tensor = torch.from_numpy(array).to("cuda", non_blocking=False)
                held.append(tensor)
                self._context.set_tensor_address(name, tensor.data_ptr())
            outputs = {}
            for name in self.output_names:
                shape = tuple(self._context.get_tensor_shape(name))
                if any(d < 0 for d in shape):
                    raise BackendError(f"engine output {name} has a data-dependent shape {shape}; rebuild the engine "
                                       "with acc-export --engine trt (engines keep only logits)")  # fmt: skip
                dtype = torch.from_numpy(np.empty(0, self._dtypes[name])).dtype
                outputs[name] = torch.empty(shape, dtype=dtype, device="cuda")
                self._context.set_tensor_address(name, outputs[name].data_ptr())
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise BackendError(f"TensorRT failed to run on inputs {[tuple(np.shape(t)) for t in held]}; check "
                                   "the log")  # fmt: skip
            self._stream.synchronize()
            return {name: tensor.cpu().numpy() for name, tensor in outputs.items()}
