"""The file name that encodes a prebuilt engine's key; the manifest entry itself is ``acc.runtime.EngineEntry``.

Engines are keyed by (profile, backend, compute capability, precision) (docs/DESIGN.md#bundle); the file name spells
the key, so two engines of one bundle never collide and a file found alone still says what it is:
``engines/s3.0.tensorrt.sm87.fp16.engine``. Profile names may contain dots (``s1.5``); the other parts do not.
"""

from __future__ import annotations

import re
from typing import Any

from acc.profiles import EngineBuildError

from .flavour import BACKENDS, parse_cc

ENGINES_DIR = "engines"
ENGINE_SUFFIX = ".engine"
PRECISIONS = ("fp16", "fp32")
_SAFE_PROFILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


def parse_precisions(text: str | Any) -> tuple[str, ...]:
    """``"fp16,fp32"`` → ``("fp16", "fp32")``; unknown or repeated names are a one-line error."""
    items = [item.strip() for item in text.split(",")] if isinstance(text, str) else [str(i) for i in text]
    unknown = [item for item in items if item not in PRECISIONS]
    if not items or unknown:
        raise EngineBuildError(
            f"--engine-precision takes {' and/or '.join(PRECISIONS)}, got {text!r}; write e.g. fp16 or fp16,fp32"
        )
    if len(set(items)) != len(items):
        raise EngineBuildError(f"--engine-precision names a precision twice ({text!r}); list each once")
    return tuple(items)


def engine_file_name(profile: str, backend: str, compute_capability: str, precision: str) -> str:
    """``<profile>.<backend>.<cc>.<precision>.engine``, every part checked so the name parses back."""
    if not _SAFE_PROFILE.match(profile):
        raise EngineBuildError(f"profile name {profile!r} cannot name an engine file; use letters, digits, . _ - @")
    if backend not in BACKENDS:
        raise EngineBuildError(f"engine backend {backend!r} is not one of {', '.join(BACKENDS)}; file a bug")
    if precision not in PRECISIONS:
        raise EngineBuildError(f"engine precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    cc = parse_cc(compute_capability)
    return f"{profile}.{backend}.{cc}.{precision}{ENGINE_SUFFIX}"


def parse_engine_file_name(name: str) -> tuple[str, str, str, str]:
    """Inverse of ``engine_file_name``: ``(profile, backend, compute_capability, precision)``."""
    stem = name.rsplit("/", 1)[-1]
    parts = stem.removesuffix(ENGINE_SUFFIX).rsplit(".", 3) if stem.endswith(ENGINE_SUFFIX) else []
    if len(parts) != 4 or parts[1] not in BACKENDS or parts[3] not in PRECISIONS:
        raise EngineBuildError(
            f"engine file {name!r} is not named <profile>.<backend>.<cc>.<precision>{ENGINE_SUFFIX}; rebuild it "
            "with acc-export --engine trt"
        )
    profile, backend, cc, precision = parts
    return profile, backend, parse_cc(cc), precision
