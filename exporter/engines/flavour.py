"""Which TensorRT is installed, which GPU it builds for, and the target an engine will be recorded under.

Two flavours share one Python API (Builder, NetworkDefinition, OnnxParser, BuilderConfig, Runtime):
``tensorrt`` (JetPack, NGC images, a real ``pip install tensorrt``) and TensorRT-RTX (``pip install
'acc-deploy[trt]'``, import name ``tensorrt_rtx_bindings``). They differ where it matters to us:

- TensorRT builds for the GPU it runs on; the engine's compute capability is the device's.
- TensorRT-RTX builds for a list of target compute capabilities (``ComputeCapability.SM75 ... SM121`` or
  ``CURRENT``) and has no sm90 target, so on an H100 it must be told a target (the engine then runs only there).
  Told a target, it also builds on a machine with no GPU at all (ahead of time, CPU only: CI does this).

Finding the installed flavour and the GPU's compute capability is the runtime's (``acc.runtime.trt_flavour``: it
checks an engine before loading it); choosing a build target is here. Nothing imports TensorRT at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from acc.profiles import EngineBuildError
from acc.runtime.trt_flavour import (
    CC_PATTERN,
    backend_name,
    parse_cc,
    trt_module,
    trt_version,
    visible_compute_capability,
)

BACKENDS = ("tensorrt", "tensorrt-rtx")


def rtx_targets(trt: ModuleType) -> tuple[str, ...]:
    """Compute capabilities a TensorRT-RTX builder can target (``sm75``, ...); empty for full TensorRT."""
    enum = getattr(trt, "ComputeCapability", None)
    members = getattr(enum, "__members__", {}) if enum is not None else {}
    return tuple(parse_cc(name) for name in members if CC_PATTERN.match(name))


@dataclass(frozen=True)
class EngineTarget:
    """Where engines will run: recorded in every engine entry, and checked by the runtime before loading one.

    ``build_for`` is what to ask a TensorRT-RTX builder for: ``None`` means its ``CURRENT`` target (this GPU), a
    name such as ``sm89`` an explicit target. Full TensorRT always builds for the current GPU (``None``).
    """

    backend: str
    trt_version: str
    compute_capability: str
    device_compute_capability: str | None  # None: no GPU here (TensorRT-RTX ahead-of-time build on CPU)
    build_for: str | None = None

    @property
    def has_gpu(self) -> bool:
        return self.device_compute_capability is not None


def resolve_target(trt: ModuleType, device_cc: str | None, requested: str | None = None) -> EngineTarget:
    """Decide the compute capability engines are built for; a one-line error when the flavour cannot.

    Pure given the module (tests pass a fake): full TensorRT only builds for ``device_cc``; TensorRT-RTX builds
    for ``device_cc`` when it is one of its targets, or for an explicit ``requested`` target that is.
    ``device_cc=None`` (no GPU here): only TensorRT-RTX with a ``requested`` target can build (ahead of time).
    """
    backend = backend_name(trt)
    version = trt_version(trt)
    wanted = parse_cc(requested) if requested else None
    if device_cc is None:
        return _cpu_only_target(trt, backend, version, wanted)
    device_cc = parse_cc(device_cc)
    if backend == "tensorrt":
        if wanted not in (None, device_cc):
            raise EngineBuildError(
                f"TensorRT {version} builds engines only for the GPU it runs on ({device_cc}), not {wanted}; "
                "drop --engine-target, or build on a GPU of that compute capability"
            )
        return EngineTarget(backend, version, device_cc, device_cc, None)
    targets = rtx_targets(trt)
    target = wanted or device_cc
    if target not in targets:
        here = "this GPU's " if wanted is None else ""
        raise EngineBuildError(
            f"TensorRT-RTX {version} cannot target {here}{target} (it targets {', '.join(targets) or 'nothing'}); "
            f"pass --engine-target with one of those (the engine then runs only on such GPUs), or use full TensorRT"
        )
    return EngineTarget(backend, version, target, device_cc, None if target == device_cc else target)


def _cpu_only_target(trt: ModuleType, backend: str, version: str, wanted: str | None) -> EngineTarget:
    """No GPU here: TensorRT-RTX builds ahead of time for an explicit target; anything else cannot build."""
    if backend == "tensorrt":
        raise EngineBuildError(
            f"no CUDA GPU visible to build TensorRT {version} engines for (TensorRT builds only for the GPU it runs "
            "on); run acc-export --engine trt on that GPU, or install TensorRT-RTX to build ahead of time on CPU"
        )
    targets = rtx_targets(trt)
    if wanted is None or wanted not in targets:
        asked = f"{wanted} is not one of its targets" if wanted else "no --engine-target was given"
        raise EngineBuildError(
            f"no CUDA GPU visible and {asked}: TensorRT-RTX {version} builds ahead of time on CPU only for an "
            f"explicit target; pass --engine-target with one of {', '.join(targets) or 'nothing'} (e.g. sm89)"
        )
    return EngineTarget(backend, version, wanted, None, wanted)


def engine_target(requested: str | None = None) -> EngineTarget:
    """``resolve_target`` for the installed TensorRT and this machine's GPU, if any (imports TensorRT, asks the
    device). Without a GPU, TensorRT-RTX with ``requested`` builds ahead of time (CPU only)."""
    trt = trt_module()
    return resolve_target(trt, visible_compute_capability(), requested)
