"""Which engine runs a bundle's graphs: one factory per backend, chosen by name from what the manifest ships.

``Runtime.load(backend=...)`` asks here. ``ort`` (and ``auto``) runs the ONNX graphs on ONNX Runtime; ``trt`` runs
the prebuilt TensorRT / TensorRT-RTX engines listed in ``manifest.engines``; ``aoti`` runs the AOTInductor packages
listed in the manifest's ``aoti`` section (``acc-aoti``). Every factory maps a graph path (what the policy and the
ad-hoc profiles name) to a :class:`~acc.runtime.session.Backend`, so the runtime core is the same whatever runs the
graph. A bundle that ships nothing for the asked backend, or a machine that cannot run it, fails at load in one line
naming the fix, never on the first request.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from acc.profiles import BundleError

from .bundle_format import EngineEntry, Manifest
from .precision import graphs_of, resolve_precision
from .session import Backend, BackendError, VerifiedOrtFactory, ort_factory
from .trt_flavour import parse_cc, visible_compute_capability

BACKENDS = ("auto", "ort", "trt", "aoti")


@dataclass
class GraphBackends:
    """A backend's factory, its name in latency tables (``ort-cpu``, ``tensorrt-rtx``, ``aoti-cpu``), the graphs
    it can run (what a preload builds; a graph outside it is refused with the reason) and the precision it runs."""

    name: str
    factory: Any  # graph path -> Backend
    graphs: tuple[Path, ...]
    precision: str


def check_backend(backend: str) -> None:
    """A known backend name; checked before a bundle is read and hashed, so a typo fails at once."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; pass one of {', '.join(repr(b) for b in BACKENDS)}")


def backend_factory(
    manifest: Manifest, backend: str, device: str, *, threads: int | None, precision: str
) -> GraphBackends:
    """The factory of ``backend`` for this bundle; ``device`` is resolved (``cpu``/``cuda``). ``precision``: for
    ONNX Runtime resolved against the bundle's variants (``acc.runtime.precision``), for TensorRT the engines'."""
    check_backend(backend)
    if backend in ("auto", "ort"):
        chosen = resolve_precision(manifest, device, precision)
        factory: VerifiedOrtFactory = ort_factory(device, threads=threads, precision=chosen, manifest=manifest)
        graphs = tuple(manifest.path(g) for g in graphs_of(manifest))
        return GraphBackends(f"ort-{device}", factory, graphs, chosen)
    if backend == "trt":
        return _trt(manifest, device, precision)
    return _aoti(manifest, device, precision)


def _profile_of(manifest: Manifest) -> dict[Path, str]:
    return {manifest.path(entry.graph): entry.name for entry in manifest.profiles}


# --------------------------------------------------------------------------------------------------- TensorRT


def _trt(manifest: Manifest, device: str, precision: str) -> GraphBackends:
    from .trt_backend import TrtBackend

    if not manifest.engines:
        raise BackendError(f"bundle {manifest.bundle_dir} ships no TensorRT engines; export it with --engine trt "
                           "(or build them on the target with acc-export --engine trt), or use backend='ort'")  # fmt: skip
    if device != "cuda":
        raise BackendError(f"TensorRT engines run on a CUDA GPU, not on {device}; pass device='cuda' or backend='ort'")
    cc = visible_compute_capability()
    if cc is None:
        raise BackendError("TensorRT engines need a visible CUDA GPU and none is; run on the GPU the engines were "
                           "built for, or use backend='ort'")  # fmt: skip
    chosen = _engines_for(manifest.engines, parse_cc(cc), precision, manifest)
    min_keep = manifest.model.min_keep or 1
    profile_of = _profile_of(manifest)

    def factory(graph_path: Path) -> Backend:
        name = profile_of.get(graph_path, graph_path.stem)
        entry = chosen.get(name)
        if entry is None:
            raise BackendError(f"bundle {manifest.bundle_dir} has no TensorRT engine for profile {name!r} on "
                               f"{cc}; build one with acc-export --engine trt, or use backend='ort'")  # fmt: skip
        return TrtBackend(manifest.path(entry.file), entry, device_cc=cc, min_keep=min_keep,
                          verified=manifest.read_file(entry.file))  # fmt: skip

    engines = tuple(chosen.values())
    graphs = tuple(graph for graph, name in profile_of.items() if name in chosen)
    return GraphBackends(engines[0].backend, factory, graphs, precision)


def _engines_for(engines: tuple[EngineEntry, ...], cc: str, precision: str, manifest: Manifest) -> dict[str, Any]:
    """One engine per profile for this GPU: the asked precision, or (``auto``) fp16 before fp32."""
    here = [e for e in engines if parse_cc(e.compute_capability) == cc]
    if not here:
        built = sorted({e.compute_capability for e in engines})
        raise BackendError(f"bundle {manifest.bundle_dir} has TensorRT engines for {built}, not for this GPU ({cc}); "
                           "build engines on this device with acc-export --engine trt")  # fmt: skip
    order = ("fp16", "fp32") if precision == "auto" else (precision,)
    chosen: dict[str, EngineEntry] = {}
    for wanted in order:
        for entry in here:
            if entry.precision == wanted:
                chosen.setdefault(entry.profile, entry)
    if not chosen:
        have = sorted({e.precision for e in here})
        raise BackendError(f"bundle {manifest.bundle_dir} has {cc} engines in {have}, not {precision}; pass "
                           "precision='auto' or one of those")  # fmt: skip
    return chosen


# --------------------------------------------------------------------------------------------------- AOTInductor


def _aoti(manifest: Manifest, device: str, precision: str) -> GraphBackends:
    records = manifest.sections.get("aoti") or []
    if not isinstance(records, list) or not records:
        raise BackendError(f"bundle {manifest.bundle_dir} has no AOTInductor packages; build them with acc-aoti "
                           f"{manifest.bundle_dir} --device {device}, or use backend='ort'")  # fmt: skip
    packages: dict[str, list[tuple[int, Path]]] = {}
    for index, record in enumerate(records):
        if not isinstance(record, Mapping) or not {"profile", "path", "seq_buckets", "device"} <= set(record):
            raise BundleError(f"bundle {manifest.bundle_dir} aoti[{index}] is malformed; rebuild it with acc-aoti")
        if record["device"] != device:
            continue
        if record["path"] not in manifest.files:
            raise BundleError(f"AOTInductor package {record['path']} is not listed in the manifest's files (it would "
                              "run unverified); rebuild it with acc-aoti")  # fmt: skip
        for bucket in record["seq_buckets"]:
            packages.setdefault(str(record["profile"]), []).append((int(bucket), manifest.path(record["path"])))
    if not packages:
        built = sorted({str(r.get("device")) for r in records if isinstance(r, Mapping)})
        raise BackendError(f"bundle {manifest.bundle_dir} has AOTInductor packages for {built}, not {device}; build "
                           f"them with acc-aoti --device {device}, or pass device={built[0]!r}")  # fmt: skip
    profile_of = _profile_of(manifest)

    def factory(graph_path: Path) -> Backend:
        name = profile_of.get(graph_path, graph_path.stem)
        if name not in packages:
            raise BackendError(f"bundle {manifest.bundle_dir} has no AOTInductor package for profile {name!r} on "
                               f"{device} (packages: {sorted(packages)}); build it with acc-aoti --profiles {name}, "
                               "or ask for a speedup it has")  # fmt: skip
        return AotiBackend(sorted(packages[name]), device, manifest.model.inputs)

    graphs = tuple(graph for graph, name in profile_of.items() if name in packages)
    return GraphBackends(f"aoti-{device}", factory, graphs, precision)


class AotiBackend(Backend):
    """One profile's AOTInductor packages as a graph backend: each run goes to the smallest sequence bucket that
    holds it. Packages load on first use (each is a compiled shared library)."""

    output_names = ("logits",)

    def __init__(self, buckets: list[tuple[int, Path]], device: str, inputs: tuple[str, ...]) -> None:
        self.name = f"aoti-{device}"
        self.input_names = inputs  # the model card's: a package takes token_type_ids as zeros when a model has none
        self.buckets = buckets
        self.device = device
        self._runners: dict[Path, Any] = {}
        self._lock = threading.Lock()  # one run at a time per profile: the compiled model is not documented reentrant
        from .aoti import PackageInfo, check_compatible

        for _, path in buckets:  # this torch and device can run them: checked from metadata, before any is loaded
            check_compatible(PackageInfo.read(path), path, device)

    def _infer_impl(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from acc.profiles import DataError

        length = int(np.asarray(feeds["input_ids"]).shape[1])
        path = next((p for bucket, p in self.buckets if bucket >= length), None)
        if path is None:
            largest = self.buckets[-1][0]
            raise DataError(f"inputs of {length} tokens exceed the largest AOTInductor bucket ({largest}); build "
                            f"a larger one with acc-aoti --seq-buckets, or truncate the texts")  # fmt: skip
        with self._lock:
            runner = self._runners.get(path)
            if runner is None:
                from .aoti import AotiRunner

                runner = self._runners[path] = AotiRunner(path, self.device)
            return {"logits": runner.predict(feeds["input_ids"], feeds["attention_mask"], feeds.get("token_type_ids"))}
