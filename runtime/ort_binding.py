"""How ``OrtBackend`` moves data: plain ``run``, IO binding, or fixed per-bucket buffers (for CUDA graphs).

- ``run_plain``: ``session.run`` — ORT copies inputs to the device and every output back, per call.
- ``run_bound``: IO binding — inputs are bound from host memory (copied to the device once, at run), outputs are
  allocated on the device by ORT (their shapes may be data-dependent: ``kept_index_*``) and copied back once.
- ``BucketRunner``: inputs padded to a ``Buckets`` shape and written into buffers allocated once per bucket; only
  ``logits`` (shape ``[batch, labels]``, known per bucket) is bound, to a fixed buffer too. Fixed addresses are
  what ONNX Runtime's CUDA graphs need (``enable_cuda_graph``; one captured graph per bucket, chosen with the
  ``gpu_graph_id`` run option). The same code runs on the CPU EP without capture, which is how CI exercises it.

Why CUDA graphs need static widths: a captured TopK replays the K it saw at capture. Static-width ACC graphs take
every K from the padded length (constant per bucket), and the keep-counts adjustable graph is fed ``bucket_widths``,
so both keep the right word-vectors on every replay. ``OrtBackend`` refuses CUDA graphs for graphs whose widths
depend on input values (``graph_widths``).

``fixed_shapes``: one session per bucket, created with the bucket's batch and sequence sizes as free-dimension
overrides. ORT then folds every ``Shape``-derived value into a constant, so no node of the ACC width arithmetic is
left for the CPU and the whole graph can be captured; the cost is one session (and weight copy) per bucket.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from acc.profiles import BundleError

from .buckets import Buckets, pad_feeds, unpad

if TYPE_CHECKING:
    import onnxruntime

LOGITS = "logits"
ORT_DEVICE = {"cpu": "cpu", "cuda": "cuda"}


def run_plain(
    session: onnxruntime.InferenceSession,
    feeds: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    run_options: onnxruntime.RunOptions | None = None,
) -> list:
    return session.run(list(outputs), dict(feeds), run_options)


def run_bound(
    session: onnxruntime.InferenceSession,
    feeds: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    device: str,
    run_options: onnxruntime.RunOptions | None = None,
) -> list[np.ndarray]:
    """One run with a fresh binding (bindings are per call, so concurrent calls never share one)."""
    binding = session.io_binding()
    for name, value in feeds.items():
        binding.bind_cpu_input(name, np.ascontiguousarray(value))
    for name in outputs:
        binding.bind_output(name, ORT_DEVICE[device])
    session.run_with_iobinding(binding, run_options)
    return binding.copy_outputs_to_cpu()


@dataclass
class _Slot:
    """One bucket's session, binding, fixed input buffers and logits buffer, and the graph id it replays."""

    session: Any
    binding: Any
    inputs: dict[str, Any]
    logits: Any
    run_options: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


SessionForShape = Callable[[tuple[int, int]], "onnxruntime.InferenceSession"]


class BucketRunner:
    """Runs ``session`` on bucket-padded inputs through fixed buffers; returns ``logits`` only.

    ``cuda_graph``: tag each bucket's runs with its own ``gpu_graph_id`` (the session must have been created with
    ``enable_cuda_graph``); the first run of a bucket captures, later runs replay. ``session_for_shape``: a session
    of its own per bucket (``fixed_shapes``), made on the bucket's first run; ``session`` then only describes I/O.
    """

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        device: str,
        buckets: Buckets,
        cuda_graph: bool,
        session_for_shape: SessionForShape | None = None,
    ) -> None:
        outputs = {node.name: node for node in session.get_outputs()}
        if LOGITS not in outputs:
            raise BundleError(f"graph has no {LOGITS} output (has {sorted(outputs)}); re-export the bundle")
        labels = outputs[LOGITS].shape[-1]
        if not isinstance(labels, int):
            raise BundleError(f"graph's {LOGITS} has a dynamic label axis {outputs[LOGITS].shape}; re-export it")
        self._session = session
        self._device = ORT_DEVICE[device]
        self._labels = labels
        self._types = {node.name: _numpy_type(node.type) for node in session.get_inputs()}
        self.buckets = buckets
        self.cuda_graph = cuda_graph
        self._session_for_shape = session_for_shape
        self._slots: dict[tuple[int, int], _Slot] = {}
        self._lock = threading.Lock()

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows, seq = np.asarray(feeds["input_ids"]).shape
        shape = self.buckets.shape_for(rows, seq)
        padded = pad_feeds(feeds, *shape)
        slot = self._slot(shape, padded)
        with slot.lock:
            for name, value in slot.inputs.items():
                value.update_inplace(np.ascontiguousarray(padded[name], dtype=self._types[name]))
            slot.session.run_with_iobinding(slot.binding, slot.run_options)
            logits = slot.logits.numpy().copy()
        return unpad({LOGITS: logits}, rows)

    def captured(self) -> list[tuple[int, int]]:
        """Buckets that have buffers (and, with CUDA graphs, a captured graph)."""
        with self._lock:
            return sorted(self._slots)

    def _slot(self, shape: tuple[int, int], padded: Mapping[str, np.ndarray]) -> _Slot:
        import onnxruntime

        with self._lock:
            slot = self._slots.get(shape)
            if slot is not None:
                return slot
            session = self._session if self._session_for_shape is None else self._session_for_shape(shape)
            binding = session.io_binding()
            inputs = {}
            for name, dtype in self._types.items():
                value = onnxruntime.OrtValue.ortvalue_from_shape_and_type(list(np.shape(padded[name])), dtype,
                                                                          self._device, 0)  # fmt: skip
                binding.bind_ortvalue_input(name, value)
                inputs[name] = value
            logits = onnxruntime.OrtValue.ortvalue_from_shape_and_type([shape[0], self._labels], np.float32,
                                                                       self._device, 0)  # fmt: skip
            binding.bind_ortvalue_output(LOGITS, logits)
            run_options = onnxruntime.RunOptions()
            if self.cuda_graph:
                run_options.add_run_config_entry("gpu_graph_id", str(len(self._slots) + 1))  # -1/0 are reserved
            slot = _Slot(session, binding, inputs, logits, run_options)
            self._slots[shape] = slot
            return slot


def _numpy_type(ort_type: str) -> type:
    """``tensor(int64)`` → ``np.int64`` (the input types our graphs take)."""
    types = {"tensor(int64)": np.int64, "tensor(float)": np.float32, "tensor(int32)": np.int32,
             "tensor(float16)": np.float16}  # fmt: skip
    if ort_type not in types:
        raise BundleError(f"graph input type {ort_type} is not one acc graphs take; re-export the bundle")
    return types[ort_type]
