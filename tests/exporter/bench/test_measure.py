"""exporter/bench/measure.py, runtime/timing.py: interleaved timing, time budget, candidates, session options."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from acc.exporter.bench import ADJUSTABLE, BASELINE, BUNDLE_DENSE, PROFILE, SessionSettings, bundle_candidates
from acc.exporter.bench.measure import latency_stats, paired_speedup
from acc.profiles import DataError
from acc.runtime import read_manifest
from acc.runtime.timing import MIN_TIMED_ROUNDS, measure_interleaved


def _recorder(calls: list[str], label: str, sleep_s: float = 0.0):  # noqa: ANN202
    def run() -> None:
        calls.append(label)
        if sleep_s:
            time.sleep(sleep_s)

    return run


def test_rounds_rotate_the_starting_candidate() -> None:
    calls: list[str] = []
    runs = {label: _recorder(calls, label) for label in "abc"}
    samples = measure_interleaved(runs, warmup=1, iters=3)
    assert calls == list("abc" + "abc" + "bca" + "cab")  # 1 warm-up round, then 3 timed rounds rotated
    assert {label: len(values) for label, values in samples.items()} == {k: 3 for k in "abc"}


def test_time_budget_stops_early_but_keeps_the_minimum() -> None:
    calls: list[str] = []
    samples = measure_interleaved({"slow": _recorder(calls, "slow", 0.01)}, warmup=0, iters=50, max_seconds=0.001)
    stats = latency_stats(samples["slow"], warmup=0)
    assert stats.iters == MIN_TIMED_ROUNDS and stats.warmup == 0
    assert stats.p50_ms >= 10.0


def test_stats_and_paired_speedup() -> None:
    stats = latency_stats([1.0, 2.0, 3.0, 4.0, 100.0], warmup=2)
    assert (stats.p50_ms, stats.mean_ms, stats.iters, stats.warmup) == (3.0, 22.0, 5, 2)
    assert stats.p50_ms <= stats.p90_ms <= stats.p99_ms <= 100.0
    # a slow spell in round 2 slows both runs: the per-round ratios stay 2, the p50 ratio does not
    baseline, candidate = [10.0, 40.0, 10.0], [5.0, 20.0, 6.0]
    assert paired_speedup(baseline, candidate) == 2.0
    with pytest.raises(DataError, match="equal, non-empty"):
        paired_speedup([1.0], [1.0, 2.0])


def test_bad_counts_are_data_errors() -> None:
    with pytest.raises(DataError, match="iters must be >= 1"):
        measure_interleaved({"a": lambda: None}, iters=0)


def test_bundle_candidates(tiny_export_bundle: Path, tmp_path: Path) -> None:
    manifest = read_manifest(tiny_export_bundle)
    candidates = bundle_candidates(manifest, tmp_path / "baseline.onnx")
    assert [(c.label, c.kind) for c in candidates] == [
        ("baseline", BASELINE),
        ("dense", BUNDLE_DENSE),
        ("s1.5", PROFILE),
        ("adjustable@s1.5", ADJUSTABLE),
    ]
    adjustable = candidates[-1]
    assert adjustable.ratios_input == "keep_ratios"
    assert adjustable.keep_ratios == manifest.profile("s1.5").profile.keep_ratios
    assert candidates[2].graph != adjustable.graph
    assert candidates[0].theoretical_speedup(manifest.model.shape, 64) == 1.0
    assert candidates[2].theoretical_speedup(manifest.model.shape, 128) == pytest.approx(1.5, abs=0.01)


def test_session_settings_are_applied() -> None:
    options = SessionSettings(threads=2).session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    spinning = SessionSettings(threads=1, spinning=True).session_options()
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"


def test_a_failing_graph_is_a_one_line_backend_error(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from acc.exporter.bench import Candidate
    from acc.exporter.bench.measure import _runner
    from acc.runtime import BackendError

    class Broken:
        def get_inputs(self):  # noqa: ANN202
            return [SimpleNamespace(name="input_ids")]

        def run(self, outputs, feeds):  # noqa: ANN001, ANN202
            raise RuntimeError("bad_alloc\nstack trace")

    import numpy as np

    run = _runner(Broken(), Candidate("s3", PROFILE, "s3", tmp_path / "s3.onnx"), {"input_ids": np.ones((8, 512))})
    with pytest.raises(
        BackendError, match=r"s3 \(s3.onnx\) failed on inputs \{'input_ids': \(8, 512\)\} \(bad_alloc\)"
    ):
        run()


def test_importing_the_bench_package_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, acc.exporter.bench; print(sorted(m for m in ('torch', 'onnxruntime', 'matplotlib') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
