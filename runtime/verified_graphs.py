"""A bundle's ONNX graphs as verified bytes: the graph file and every external-data file it names, each listed in the
manifest and checked (size, sha256) on the very bytes ONNX Runtime is then given.

Why bytes and not paths: a check at load followed by ORT reading the path later (a profile's session is created on
its first request) let a ``weights.bin`` rewritten in between answer unverified. ORT builds the session from these
buffers (``add_external_initializers_from_files_in_memory``) and never opens a bundle file itself, so what was
checked is what runs, whenever the session is made.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from acc.profiles import BundleError

from .bundle_format import Manifest
from .integrity import REEXPORT


@dataclass(frozen=True, eq=False)
class VerifiedGraph:
    """``model``: the graph file's bytes; ``external``: ``{location as the graph names it: file bytes}``."""

    relative: str
    model: bytes
    external: dict[str, bytes] = field(default_factory=dict)


def read_graph(manifest: Manifest, relative: str, cache: dict[str, bytes] | None = None) -> VerifiedGraph:
    """Verified bytes of graph ``relative`` and of its external data. ``cache`` (keyed by bundle path) lets several
    graphs share one read of ``graphs/weights.bin`` while a runtime loads them together."""
    import onnx
    from onnx.external_data_helper import (
        ExternalDataInfo,
        _get_all_tensors,
        uses_external_data,
    )

    model_bytes = _read(manifest, relative, cache=None)
    try:
        model = onnx.load_from_string(model_bytes)
    except Exception:  # noqa: BLE001 - not a ModelProto: ONNX Runtime refuses the same bytes with its own message
        return VerifiedGraph(relative, model_bytes)
    external: dict[str, bytes] = {}
    for tensor in _get_all_tensors(model):
        if not uses_external_data(tensor):
            continue
        location = ExternalDataInfo(tensor).location
        if location in external:
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(relative), location))
        if posixpath.isabs(location) or target.startswith("../") or target == ".." or "\\" in location:
            raise BundleError(f"graph {relative} in bundle {manifest.bundle_dir} keeps tensor {tensor.name!r} in "
                              f"{location!r}, outside the bundle; {REEXPORT}")  # fmt: skip
        if target == relative:
            raise BundleError(f"graph {relative} names itself as its external data; {REEXPORT}")
        external[location] = _read(manifest, target, cache)
    return VerifiedGraph(relative, model_bytes, external)


def _read(manifest: Manifest, relative: str, cache: dict[str, bytes] | None) -> bytes:
    if cache is not None and relative in cache:
        return cache[relative]
    data = manifest.read_file(relative)
    if cache is not None:
        cache[relative] = data
    return data
