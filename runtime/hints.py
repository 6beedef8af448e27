"""Error hints in the caller's own syntax.

The runtime names a fix as the Python keyword that applies it (``pass best_effort=True``, ``min_accuracy=0.9``),
because ``Runtime.predict`` takes those keywords. A command-line user fixes it with a flag (``--best-effort``,
``--min-accuracy 0.9``) and an HTTP client with a JSON field (``"best_effort": true``); the CLI and the server
rewrite the message with these functions before printing it (``examples/cpp/classify.cpp`` does the same in C++).
"""

from __future__ import annotations

import re

# The request keywords a message may name, optionally with the value to pass (True, a number, a quoted string).
_KEYWORD = re.compile(r"\b(speedup|latency_budget_ms|min_accuracy|best_effort|device)=(True|[0-9.]*[0-9]|'[\w:]+')?")
_LOWER = re.compile(r"\b(lower|raise) (min_accuracy|latency_budget_ms)\b")  # "lower min_accuracy": the keyword, no =


def _keywords(message: str) -> str:
    return _LOWER.sub(r"\1 \2=", message)


def as_flags(message: str) -> str:
    """``best_effort=True`` → ``--best-effort``, ``min_accuracy=0.9`` → ``--min-accuracy 0.9``, ``device='cpu'`` →
    ``--device cpu``."""

    def flag(match: re.Match[str]) -> str:
        name, value = "--" + match.group(1).replace("_", "-"), match.group(2)
        return name if value in (None, "True") else f"{name} {value.strip(chr(39))}"

    return _KEYWORD.sub(flag, _keywords(message))


def as_json(message: str) -> str:
    """``best_effort=True`` → ``"best_effort": true``, ``min_accuracy=0.9`` → ``"min_accuracy": 0.9``."""

    def field(match: re.Match[str]) -> str:
        name, value = f'"{match.group(1)}"', match.group(2)
        if value is None:
            return name
        value = "true" if value == "True" else value.replace("'", '"')
        return f"{name}: {value}"

    return _KEYWORD.sub(field, _keywords(message))
