"""benchmarks/reliability: its defect rules count what the legend says, and SIGTERM under load on a real acc-serve."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")

SUITE = Path(__file__).resolve().parents[2] / "benchmarks" / "reliability"


@pytest.fixture(scope="module")
def suite() -> ModuleType:
    """benchmarks/reliability/run.py (a folder of scripts importing each other by name, as when run directly)."""
    sys.path.insert(0, str(SUITE))
    try:
        import run
    finally:
        sys.path.remove(str(SUITE))
    return run


def _reply(status: int, body: bytes) -> bytes:
    return f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body


def test_sigterm_outcomes_are_classified(suite: ModuleType) -> None:
    classify = sys.modules["server_probe"]._classify
    refused = json.dumps({"detail": "shutting down", "error": "BatcherClosedError"}).encode()
    assert classify(_reply(200, b"{}"), False) == "200 answered (sent before SIGTERM)"
    assert classify(_reply(503, refused), True) == "503 BatcherClosedError (sent after SIGTERM)"
    assert classify(_reply(500, b"Internal Server Error"), False).startswith("BROKEN")
    assert classify(b"", False).startswith("NO REPLY")
    assert classify(b"", True).startswith("reset, no reply")


def _soak_report(passed: bool, exit_s: float, broken: int, kept_mb: float) -> dict:
    return {
        "soak": {"checks": {"passed": passed, "requests": 10}},
        "sigterm": {"outcomes": {"200 answered (sent before SIGTERM)": 5}, "defects": broken, "exit_s": exit_s,
                    "within_deadline": exit_s <= 15},
        "arena": {"summary": {"release": {"kept_after_mb": kept_mb}}},
    }  # fmt: skip


def test_soak_sigterm_and_arena_defects_are_counted(suite: ModuleType) -> None:
    assert suite.summarise(_soak_report(True, 1.0, 0, 3.0))["defects"] == 0
    assert suite.summarise(_soak_report(False, 1.0, 0, 3.0))["defects"] == 1
    assert suite.summarise(_soak_report(True, 40.0, 2, 3.0))["defects"] == 3
    assert suite.summarise(_soak_report(True, 1.0, 0, 400.0))["defects"] == 1
    assert suite.summarise(_soak_report(True, 1.0, 0, 3.0))["cases"] == 10 + 5 + 1


def test_sigterm_under_load_answers_every_request_in_flight(suite: ModuleType, tiny_export_bundle: Path) -> None:
    result = sys.modules["server_probe"].sigterm_under_load(tiny_export_bundle, clients=4, load_s=2.0)
    answered = sum(n for name, n in result["outcomes"].items() if name.startswith("200"))
    assert answered > 0, result
    assert result["defects"] == 0, result
    assert result["within_deadline"], result
