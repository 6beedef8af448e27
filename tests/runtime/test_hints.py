"""Error hints in the caller's own syntax (issue #16, item 4): flags for the CLI, JSON fields for HTTP clients."""

from __future__ import annotations

import pytest

from acc.runtime.hints import as_flags, as_json

CASES = [  # runtime message (Python keywords), command-line form, JSON form
    ("lower min_accuracy or pass best_effort=True", "lower --min-accuracy or pass --best-effort",
     'lower "min_accuracy" or pass "best_effort": true'),
    ("got 1.01; pass e.g. min_accuracy=0.9 for 90%", "got 1.01; pass e.g. --min-accuracy 0.9 for 90%",
     'got 1.01; pass e.g. "min_accuracy": 0.9 for 90%'),
    ("speedup= fixes the profile and cannot be combined with latency_budget_ms= or min_accuracy=; pass one",
     "--speedup fixes the profile and cannot be combined with --latency-budget-ms or --min-accuracy; pass one",
     '"speedup" fixes the profile and cannot be combined with "latency_budget_ms" or "min_accuracy"; pass one'),
    ("pip install 'acc-deploy[gpu]' or use device='cpu'", "pip install 'acc-deploy[gpu]' or use --device cpu",
     "pip install 'acc-deploy[gpu]' or use \"device\": \"cpu\""),
    ("target_speedup=3 at batch=2", "target_speedup=3 at batch=2", "target_speedup=3 at batch=2"),  # not keywords
]  # fmt: skip


@pytest.mark.parametrize(("python", "flags", "json"), CASES)
def test_fix_is_spelled_for_the_caller(python: str, flags: str, json: str) -> None:
    assert as_flags(python) == flags
    assert as_json(python) == json
