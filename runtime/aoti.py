"""Run an AOTInductor package written by ``acc-aoti`` / ``acc.exporter.aoti``: pad to the bucket, chunk, predict.

A package is compiled for one device, one torch release and one sequence length (see ``acc.exporter.aoti``); its
metadata (stored in the archive) says which, so a mismatch is one clear ``AotiPackageError`` before the shared
library is loaded — loading the wrong one fails deep in C++ with a message that names neither package nor fix.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from acc.profiles import BundleError

PACKAGE_FORMAT = "acc-aoti-v1"
_METADATA_SUFFIX = "wrapper_metadata.json"
_REBUILD = "rebuild it with acc-aoti on this machine's torch"


class AotiPackageError(BundleError):
    """An AOTInductor package that is unreadable, not from acc-deploy, or built for another device or torch."""


def package_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``aot_inductor.metadata`` a package was compiled with (acc_* keys plus AOTI_*), read from the archive."""
    package = Path(path)
    if not package.is_file():
        raise AotiPackageError(f"AOTInductor package {package} does not exist; pass a .pt2 written by acc-aoti")
    try:
        with zipfile.ZipFile(package) as archive:
            names = [n for n in archive.namelist() if n.endswith(_METADATA_SUFFIX) and "/aotinductor/model/" in n]
            if not names:
                raise AotiPackageError(
                    f"{package} holds no AOTInductor model metadata; pass a .pt2 written by acc-aoti"
                )
            data = json.loads(archive.read(names[0]).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AotiPackageError(f"cannot read AOTInductor package {package} ({exc}); re-copy or rebuild it") from exc
    if not isinstance(data, dict):
        raise AotiPackageError(f"{package} has malformed metadata; {_REBUILD}")
    return {str(k): str(v) for k, v in data.items()}


@dataclass(frozen=True)
class PackageInfo:
    """What a package was built for (its acc_* metadata)."""

    profile: str
    seq_len: int
    batch_range: tuple[int, int]
    device: str
    dtype: str
    kernels: str
    torch: str
    keep_ratios: tuple[float, ...]
    labels: tuple[str, ...]

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PackageInfo:
        meta = package_metadata(path)
        if meta.get("acc_format") != PACKAGE_FORMAT:
            found = meta.get("acc_format") or "none"
            raise AotiPackageError(f"{path} is not an acc-deploy AOTInductor package (format {found}, expected "
                                   f"{PACKAGE_FORMAT}); write it with acc-aoti")  # fmt: skip
        try:
            return cls(meta["acc_profile"], int(meta["acc_seq_len"]),
                       (int(meta["acc_batch_min"]), int(meta["acc_batch_max"])), meta["acc_device"], meta["acc_dtype"],
                       meta["acc_kernels"], meta["acc_torch"], tuple(json.loads(meta["acc_keep_ratios"])),
                       tuple(json.loads(meta["acc_labels"])))  # fmt: skip
        except (KeyError, ValueError, TypeError) as exc:
            raise AotiPackageError(f"{path} has incomplete acc metadata ({exc!r}); {_REBUILD}") from exc


def check_compatible(info: PackageInfo, path: str | os.PathLike[str], device: str | None = None) -> str:
    """The device to run on; ``AotiPackageError`` when this torch or machine cannot run the package."""
    torch = _torch()
    built, running = _release(info.torch), _release(torch.__version__)
    if built != running:
        raise AotiPackageError(f"{path} was compiled with torch {info.torch}, this is torch {torch.__version__}; "
                               f"AOTInductor packages need the same torch release, {_REBUILD}")  # fmt: skip
    wanted = device or info.device
    try:
        kind = torch.device(wanted).type
    except (RuntimeError, TypeError) as exc:
        raise AotiPackageError(
            f"unknown device {wanted!r}; pass {info.device}, the device {path} was built for"
        ) from exc
    if kind != info.device:
        raise AotiPackageError(f"{path} was compiled for {info.device}, asked to run on {wanted}; AOTInductor "
                               f"packages run on the device they were built for, build one with --device {wanted}")  # fmt: skip
    if info.device == "cuda" and not torch.cuda.is_available():
        raise AotiPackageError(f"{path} was compiled for CUDA but this torch sees no GPU "
                               f"(torch {torch.__version__}); run it on a GPU machine or build a --device cpu package")  # fmt: skip
    return wanted


def _torch() -> ModuleType:
    """torch, which an AOTInductor package is a program of; one line naming the install when it is missing."""
    try:
        import torch
    except ImportError as exc:
        raise AotiPackageError(
            'AOTInductor packages run on torch, which is not installed; pip install "acc-deploy[export]", or serve '
            "the bundle's ONNX graphs (acc.runtime.Runtime)"
        ) from exc
    return torch


def _release(version: str) -> tuple[str, ...]:
    """``2.11.0+cu130`` → ``("2", "11")``: the part AOTInductor's generated code and C shims are tied to."""
    return tuple(version.split("+")[0].split(".")[:2])


class AotiRunner:
    """Logits from one AOTInductor package: inputs are padded to its sequence bucket and split into allowed batches."""

    def __init__(self, package_path: str | os.PathLike[str], device: str | None = None) -> None:
        torch = _torch()
        self.path = Path(package_path)
        self.info = PackageInfo.read(self.path)
        self.device = torch.device(check_compatible(self.info, self.path, device))
        try:
            self._run = torch._inductor.aoti_load_package(str(self.path))
        except Exception as exc:  # RuntimeError with a C++ trace; first line names the cause
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AotiPackageError(f"cannot load AOTInductor package {self.path} ({first}); {_REBUILD}") from exc

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    def predict(
        self,
        input_ids: Any,
        attention_mask: Any,
        token_type_ids: Any | None = None,
    ) -> np.ndarray:
        """fp32 logits [B, labels] of int [B, N] inputs (numpy or torch, N ≤ the package's length, padding at the end)."""
        import torch

        ids, mask = _as_long(input_ids, "input_ids"), _as_long(attention_mask, "attention_mask")
        types = torch.zeros_like(ids) if token_type_ids is None else _as_long(token_type_ids, "token_type_ids")
        if ids.dim() != 2 or ids.shape != mask.shape or ids.shape != types.shape:
            raise AotiPackageError(f"inputs must be three [batch, length] arrays of one shape, got "
                                   f"{[tuple(t.shape) for t in (ids, mask, types)]}")  # fmt: skip
        batch, length = ids.shape
        bucket = self.info.seq_len
        if length > bucket:
            raise AotiPackageError(f"inputs of {length} tokens exceed package {self.path.name}'s length {bucket}; "
                                   "truncate them or use a package of a larger bucket")  # fmt: skip
        if batch == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids, mask, types = (
            torch.nn.functional.pad(t, (0, bucket - length)).to(self.device) for t in (ids, mask, types)
        )
        step = self.info.batch_range[1]
        outputs = []
        with torch.inference_mode():
            for start in range(0, batch, step):
                chunk = [t[start : start + step] for t in (ids, mask, types)]
                chunk = self._pad_batch(chunk)
                out = self._run(*chunk)
                out = out[0] if isinstance(out, (list, tuple)) else out
                outputs.append(out[: min(step, batch - start)].float().cpu())
        return torch.cat(outputs).numpy()

    def _pad_batch(self, chunk: list[Any]) -> list[Any]:
        """Repeat the last row up to the package's minimum batch (the extra rows are dropped from the output)."""
        import torch

        low = self.info.batch_range[0]
        rows = chunk[0].shape[0]
        if rows >= low:
            return chunk
        return [torch.cat([t, t[-1:].expand(low - rows, -1)]) for t in chunk]


def _as_long(values: Any, name: str) -> Any:
    import torch

    try:
        tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    except (TypeError, ValueError) as exc:
        raise AotiPackageError(f"{name} is not an integer array ({exc}); pass token ids as int arrays") from exc
    if tensor.is_floating_point() or tensor.is_complex():
        raise AotiPackageError(f"{name} has dtype {tensor.dtype}; pass integer token ids and masks")
    return tensor.long()
