"""Which TensorRT is installed and which GPU this is: what the runtime checks before loading an engine.

Two flavours share one Python API: ``tensorrt`` (JetPack, NGC images) and TensorRT-RTX (``pip install
'acc-deploy[trt]'``). The exporter builds engines with the same functions (``acc.exporter.engines.flavour`` adds
build targets). Nothing here imports TensorRT at import time; ``trt_module()`` does, when called, and
``device_compute_capability`` asks torch only when it is installed (the TensorRT path needs it anyway).
"""

from __future__ import annotations

import importlib
import re
import subprocess
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
CC_PATTERN = re.compile(r"^(?:sm_?)?(\d+)(?:\.(\d+))?$", re.IGNORECASE)


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


def parse_cc(text: str) -> str:
    """Normalise a compute capability: ``9.0``, ``90``, ``sm_90``, ``SM90`` → ``sm90``; ``8.7`` → ``sm87``."""
    match = CC_PATTERN.match(str(text).strip())
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


def visible_compute_capability() -> str | None:
    """This machine's GPU compute capability, or ``None`` when no CUDA GPU is visible."""
    try:
        return device_compute_capability()
    except EngineBuildError:
        return None


def _first_line(exc: BaseException, limit: int = 200) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
