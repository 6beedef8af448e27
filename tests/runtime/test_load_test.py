"""benchmarks/load/load_test.py (+ load_report.py): checks count what they claim; a tiny run on a real acc-serve passes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")
pytest.importorskip("httpx", reason="the [serve] extra is not installed")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load" / "load_test.py"


@pytest.fixture(scope="module")
def load_test() -> ModuleType:
    spec = importlib.util.spec_from_file_location("acc_load_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_verify_counts_errors_lost_duplicates_and_mismatches(load_test: ModuleType) -> None:
    Job, Answer = load_test.Job, load_test.Answer
    jobs = [Job(i, 0, i, "auto" if i % 2 else "3") for i in range(6)]

    def body(profile: str, label: str, p: float) -> dict:
        return {"profile": profile, "labels": [label], "probabilities": [[1 - p, p]]}

    expected = {(i, job.ask, "dense" if job.ask == "auto" else "s3"): ("dense" if job.ask == "auto" else "s3",
                "positive", [0.2, 0.8]) for i, job in enumerate(jobs)}  # fmt: skip
    answers = [
        Answer(0, 200, 1.0, 0.1, body("s3", "positive", 0.8)),  # as expected
        Answer(1, 200, 1.0, 0.1, body("dense", "positive", 0.8 + 2e-5)),  # probabilities off by 2e-5 > atol
        Answer(2, 200, 1.0, 0.1, body("s3", "negative", 0.8)),  # wrong label
        Answer(3, 200, 1.0, 0.1, body("dense", "positive", 0.8)),
        Answer(3, 200, 1.0, 0.1, body("dense", "positive", 0.8)),  # answered twice
        Answer(4, 503, 1.0, 0.1, error="shutting down"),  # an error; 5 never answered
        Answer(99, 200, 1.0, 0.1, body("s3", "positive", 0.8)),  # an id nobody sent
    ]
    checks = load_test.verify(jobs, answers, expected, atol=1e-5)
    assert (checks["errors"], checks["lost"], checks["duplicates"], checks["unknown_ids"]) == (1, 1, 1, 1)
    assert checks["mismatches"] == 2 and {e["id"] for e in checks["mismatch_examples"]} == {1, 2}
    assert checks["max_abs_prob_diff"] == pytest.approx(2e-5, rel=1e-3)
    assert checks["error_examples"] == [{"id": 4, "status": 503, "error": "shutting down"}]
    stats = load_test.latency_block([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (stats["count"], stats["p50_ms"], stats["max_ms"]) == (5, 3.0, 100.0)
    assert stats["p90_ms"] <= stats["p95_ms"] <= stats["p99_ms"] and sum(stats["histogram"]) == 5


def test_a_tiny_load_against_a_real_server_passes_and_renders(tiny_export_bundle: Path, tmp_path: Path) -> None:
    argv = [sys.executable, str(SCRIPT), str(tiny_export_bundle), "--clients", "2", "--requests-per-client", "20",
            "--mix", "auto,1.5,1.7", "--max-texts", "40", "--max-wait-ms", "2", "--output-dir", str(tmp_path),
            "--name", "load-tiny", "--no-progress"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("PASSED: 40 answers, 0 errors, 0 lost, 0 duplicated, 0 unlike single runs")
    [path] = tmp_path.glob("load-tiny_*.json")
    report = json.loads(path.read_text())
    checks, results = report["checks"], report["results"]
    assert checks["passed"] and checks["server_requests"] == 40 and checks["server_exit_code"] == 0
    assert {row["profile"]: row["count"] for row in results["per_profile"]} == {"dense": 14, "s1.5": 13, "s1.7": 13}
    assert results["throughput_rps"] > 0 and results["overall"]["count"] == 40
    md, png = path.with_suffix(".md"), path.with_suffix(".png")
    assert "— PASSED" in md.read_text() and "| s1.7 | 1.7 x13 | 13 |" in md.read_text()
    assert png.read_bytes().startswith(b"\x89PNG")
    md.unlink()
    rerender = subprocess.run([sys.executable, str(SCRIPT.with_name("load_report.py")), str(path)],
                              capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert rerender.returncode == 0, rerender.stderr
    assert md.is_file()
