"""One ``weights.bin`` for every graph of a bundle, so N profiles cost ~1× the model size on disk.

Graphs of different profiles hold the same weights, but the exporter's constant folding names some of them
differently per graph (``onnx::MatMul_812``); tensors are therefore shared by *content* (sha256), not by name.

Before::  s1.5.onnx [W_q … 90 MB]   s3.onnx [W_q … 90 MB]
After::   s1.5.onnx ─┐
          s3.onnx  ──┴─► weights.bin (same folder) [W_q … 90 MB once]   (TensorProto.external_data: offset, length)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import onnx

WEIGHTS_FILE = "weights.bin"
_ALIGN = 64
INLINE_MAX_BYTES = 1024


class SharedWeights:
    """Appends unique tensors to one file and rewrites graphs to reference them. Owns the open file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offsets: dict[str, tuple[int, int]] = {}
        self._handle = path.open("wb")
        self._size = 0

    def __enter__(self) -> SharedWeights:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.close()

    @property
    def unique_bytes(self) -> int:
        return self._size

    def externalize(self, graph_path: Path) -> int:
        """Move the graph's large initializers into the shared file; returns how many were already stored."""
        proto = onnx.load(str(graph_path))
        reused = 0
        if graph_path.parent.resolve() != self.path.parent.resolve():
            # ONNX and ONNX Runtime refuse external data outside the graph's folder (path traversal).
            raise ValueError(f"{graph_path} must sit beside {self.path} to share its weights")
        for tensor in _large_initializers(proto.graph.initializer):
            raw = onnx.numpy_helper.to_array(tensor).tobytes()
            key = hashlib.sha256(raw + str(tensor.data_type).encode() + str(list(tensor.dims)).encode()).hexdigest()
            if key in self._offsets:
                reused += 1
            else:
                self._offsets[key] = self._append(raw)
            offset, length = self._offsets[key]
            _point_to_external(tensor, self.path.name, offset, length)
        onnx.save(proto, str(graph_path))
        return reused

    def _append(self, raw: bytes) -> tuple[int, int]:
        padding = (-self._size) % _ALIGN
        if padding:
            self._handle.write(b"\0" * padding)
            self._size += padding
        offset = self._size
        self._handle.write(raw)
        self._size += len(raw)
        return offset, len(raw)


def _large_initializers(initializers: Iterable[onnx.TensorProto]) -> Iterable[onnx.TensorProto]:
    for tensor in initializers:
        if tensor.data_location != onnx.TensorProto.EXTERNAL and _nbytes(tensor) > INLINE_MAX_BYTES:
            yield tensor


def _nbytes(tensor: onnx.TensorProto) -> int:
    count = 1
    for dim in tensor.dims:
        count *= dim
    return count * onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize


def _point_to_external(tensor: onnx.TensorProto, location: str, offset: int, length: int) -> None:
    for name in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data"):
        tensor.ClearField(name)
    del tensor.external_data[:]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
