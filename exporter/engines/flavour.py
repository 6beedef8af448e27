"""Which TensorRT is installed, which GPU it builds for, and the target an engine will be recorded under.

Two flavours share one Python API (Builder, NetworkDefinition, OnnxParser, BuilderConfig, Runtime):
``tensorrt`` (JetPack, NGC images, a real ``pip install tensorrt``) and TensorRT-RTX (``pip install
'acc-deploy[trt]'``, import name ``tensorrt_rtx_bindings``). They differ where it matters to us:

- TensorRT builds for the GPU it runs on; the engine's compute capability is the device's.
- TensorRT-RTX builds for a list of target compute capabilities (``ComputeCapability.SM75 ... SM121`` or
  ``CURRENT``) and has no sm90 target, so on an H100 it must be told a target (the engine then runs only there).
  Told a target, it also builds on a machine with no GPU at all (ahead of time, CPU only: CI does this).

Nothing here imports TensorRT at import time; ``trt_module()`` does, when called.
"""

from __future__ import annotations

import importlib
import re
import subprocess
from dataclasses import dataclass
from types import ModuleType

from acc.profiles import EngineBuildError

# Import names tried in order: full TensorRT first (it can also run engines on every NVIDIA GPU it supports),
# then TensorRT-RTX (the meta package's name, then the bindings wheel's name).
TENSORRT = "tensorrt"
RTX_MODULES = ("tensorrt_rtx", "tensorrt_rtx_bindings")
NO_TENSORRT = (
    "no TensorRT found: install tensorrt (JetPack/NGC) or pip install 'acc-deploy[trt]' (TensorRT-RTX); "
    "ONNX-only bundles still work"
)
BACKENDS = ("tensorrt", "tensorrt-rtx")
_CC = re.compile(r"^(?:sm_?)?(\d+)(?:\.(\d+))?$", re.IGNORECASE)


def trt_module() -> ModuleType:
    """The importable TensorRT flavour: ``tensorrt`` when it is real (has ``Builder``), else TensorRT-RTX.

    PyPI's ``tensorrt`` can install as a stub without the library, so importing is not enough: a module without
    ``Builder`` counts as absent. A flavour that is installed but fails to import (missing shared libraries) is
    named in the error, because "not found" would send the user to install what they already have.
    """
    broken: list[str] = []
    for name in (TENSORRT, *RTX_MODULES):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the package is there but one of its own imports is not
                broken.append(f"{name}: {_first_line(exc)}")
            continue
        except (ImportError, OSError) as exc:
            broken.append(f"{name}: {_first_line(exc)}")
            continue
        if hasattr(module, "Builder"):
            return module
    if broken:
        raise EngineBuildError(f"{NO_TENSORRT} (installed but failed to import: {'; '.join(broken)})")
    raise EngineBuildError(NO_TENSORRT)


def backend_name(trt: ModuleType) -> str:
    """``tensorrt-rtx`` for TensorRT-RTX, ``tensorrt`` otherwise: the ``backend`` of engine records."""
    return "tensorrt-rtx" if trt.__name__.split(".")[0].startswith("tensorrt_rtx") else "tensorrt"


def trt_version(trt: ModuleType) -> str:
    return str(getattr(trt, "__version__", "unknown"))


def rtx_targets(trt: ModuleType) -> tuple[str, ...]:
    """Compute capabilities a TensorRT-RTX builder can target (``sm75``, ...); empty for full TensorRT."""
    enum = getattr(trt, "ComputeCapability", None)
    members = getattr(enum, "__members__", {}) if enum is not None else {}
    return tuple(parse_cc(name) for name in members if _CC.match(name))


def parse_cc(text: str) -> str:
    """Normalise a compute capability: ``9.0``, ``90``, ``sm_90``, ``SM90`` → ``sm90``; ``8.7`` → ``sm87``."""
    match = _CC.match(str(text).strip())
    if not match:
        raise EngineBuildError(f"compute capability {text!r} is not like 'sm90' or '9.0'; pass e.g. sm89")
    major, minor = match.groups()
    if minor is None:
        if len(major) < 2:
            raise EngineBuildError(f"compute capability {text!r} lacks its minor version; pass e.g. sm89 or 8.9")
        major, minor = major[:-1], major[-1]
    return f"sm{int(major)}{int(minor)}"


def cc_name(major: int, minor: int) -> str:
    return f"sm{major}{minor}"


def device_compute_capability(index: int = 0) -> str:
    """Compute capability of CUDA device ``index`` (``sm90`` on an H100, ``sm87`` on a Jetson Orin).

    Asked of torch when it sees CUDA, else of ``nvidia-smi`` (Jetsons have no nvidia-smi before JetPack 6, but
    their torch wheels see CUDA). Raises when neither answers: there is nothing to build for.
    """
    try:
        import torch

        if torch.cuda.is_available():
            return cc_name(*torch.cuda.get_device_capability(index))
    except (ImportError, RuntimeError, AssertionError):
        pass
    command = ["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader", "-i", str(index)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
        line = next(line.strip() for line in done.stdout.splitlines() if line.strip())
        return parse_cc(line)
    except (OSError, subprocess.SubprocessError, StopIteration, EngineBuildError):
        pass
    raise EngineBuildError(
        f"no CUDA GPU visible (device {index}) to build TensorRT engines for; run acc-export --engine trt on the GPU "
        "that will run the engines, or drop --engine"
    )


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


def visible_compute_capability() -> str | None:
    """This machine's GPU compute capability, or ``None`` when no CUDA GPU is visible."""
    try:
        return device_compute_capability()
    except EngineBuildError:
        return None


def engine_target(requested: str | None = None) -> EngineTarget:
    """``resolve_target`` for the installed TensorRT and this machine's GPU, if any (imports TensorRT, asks the
    device). Without a GPU, TensorRT-RTX with ``requested`` builds ahead of time (CPU only)."""
    trt = trt_module()
    return resolve_target(trt, visible_compute_capability(), requested)


def _first_line(exc: BaseException, limit: int = 200) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
