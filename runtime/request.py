"""``RequestOptions``: what one request asks for — the one list of ``Runtime.predict``/``DynamicBatcher`` keywords.

Why one record: ``Runtime.predict``, ``Runtime.choose`` and ``DynamicBatcher.submit``/``predict``/``apredict`` take
the same per-request keywords. Listing them once keeps their names, defaults and the unknown-keyword error from
drifting apart, and the batcher carries one record per queued request instead of five loose values. Callers keep
writing ``rt.predict(texts, speedup=3.0)``; ``rt.predict(texts, RequestOptions(speedup=3.0))`` is the same call.
The values' rules (speedup >= 1, budget > 0, floor in [0, 1], speedup alone) belong to the policy,
``choose_profile``, which checks them; this record owns the names only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from acc.profiles import DataError


class RequestOptionError(DataError, TypeError):
    """An unknown request keyword (a ``TypeError`` too, as Python raises for an unexpected keyword argument)."""


@dataclass(frozen=True)
class RequestOptions:
    """Per-request constraints and input handling.

    ``speedup``: run the profile with this target speedup (1 = dense; ad-hoc values use the adjustable graph).
    ``latency_budget_ms``: the most accurate profile whose measured p99 at the request's own (batch, seq) fits.
    ``min_accuracy``: the fastest profile with at least this accuracy (a fraction). ``best_effort``: the closest
    profile instead of ``PolicyError`` when nothing satisfies the constraint. ``truncate``: cut inputs longer than
    the model's ``max_length`` (``False``: ``DataError``).
    """

    speedup: float | None = None
    latency_budget_ms: float | None = None
    min_accuracy: float | None = None
    best_effort: bool = False
    truncate: bool = True

    @classmethod
    def of(cls, options: RequestOptions | None = None, **kwargs: Any) -> RequestOptions:
        """``options`` (default: none set) with ``kwargs`` applied on top: the form every public entry point takes."""
        if options is not None and not isinstance(options, RequestOptions):
            raise RequestOptionError(
                f"options must be a RequestOptions, got {type(options).__name__}; pass keywords such as speedup=3.0 "
                "or RequestOptions(speedup=3.0)"
            )
        unknown = sorted(set(kwargs) - set(OPTION_NAMES))
        if unknown:
            raise RequestOptionError(
                f"unknown request option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"the options are {', '.join(OPTION_NAMES)}"
            )
        for name, value in kwargs.items():
            _check_type(name, value)
        base = options or _NONE
        return replace(base, **kwargs) if kwargs else base

    @property
    def constrained(self) -> bool:
        """True when the request names a speedup, a latency budget or an accuracy floor (not "auto")."""
        return self.speedup is not None or self.latency_budget_ms is not None or self.min_accuracy is not None

    def policy_kwargs(self) -> dict[str, Any]:
        """The keywords of ``choose_profile`` that come from the request (shape and backend come from elsewhere)."""
        return {
            "speedup": self.speedup,
            "latency_budget_ms": self.latency_budget_ms,
            "min_accuracy": self.min_accuracy,
            "best_effort": self.best_effort,
        }


OPTION_NAMES: tuple[str, ...] = tuple(field.name for field in fields(RequestOptions))
_NONE = RequestOptions()
_FLAGS = ("best_effort", "truncate")


def _check_type(name: str, value: Any) -> None:
    """Numbers are numbers (not ``"3"``, not ``True``) and flags are bools, with the option named in the error."""
    if name in _FLAGS:
        if not isinstance(value, (bool, np.bool_)):
            raise RequestOptionError(f"{name} must be True or False, got {type(value).__name__} {value!r}; pass "
                                     f"{name}=True")  # fmt: skip
    elif value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number))):
        raise RequestOptionError(f"{name} must be a number, got {type(value).__name__} {value!r}; pass e.g. "
                                 f"{name}={_EXAMPLES[name]}")  # fmt: skip


_EXAMPLES = {"speedup": "3.0", "latency_budget_ms": "20", "min_accuracy": "0.85"}
