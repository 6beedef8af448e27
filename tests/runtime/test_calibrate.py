"""runtime/calibrate.py on a real tiny bundle: rows per (backend, device), atomic manifest update, one-line errors."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from acc.profiles import BundleError, DataError, PolicyError
from acc.runtime import BackendError, LatencyRow, Runtime, cpu_name, read_manifest, update_manifest_tables
from acc.runtime import calibrate as calibrate_module
from acc.runtime.calibrate import calibrate
from acc.runtime.session import available_ort_providers
from acc.runtime.timing import full_length_feeds

SMALL = {"batches": (1, 2), "seqs": (8, 16), "iters": 3, "warmup": 1, "threads": 1}
OTHER = {"profile": "dense", "backend": "ort-cuda", "device": "NVIDIA H100 80GB HBM3", "batch": 1, "seq": 64,
         "p50_ms": 0.5, "p99_ms": 0.7, "threads": None}  # fmt: skip


@pytest.fixture
def bundle(tiny_export_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))


def _manifest_bytes(bundle: Path) -> bytes:
    return (bundle / "manifest.json").read_bytes()


def test_rows_replace_this_device_and_keep_other_devices(bundle: Path) -> None:
    stale = {**OTHER, "backend": "ort-cpu", "device": cpu_name(), "batch": 99}
    update_manifest_tables(bundle, latency_rows=[OTHER, stale])
    before = read_manifest(bundle)
    (bundle / "manifest.json").chmod(0o644)

    rows = calibrate(bundle, device="cpu", **SMALL)

    assert len(rows) == len(before.profiles) * 2 * 2
    assert {(r["profile"], r["batch"], r["seq"]) for r in rows} == {
        (p, b, s) for p in before.profile_names for b in (1, 2) for s in (8, 16)
    }
    assert {(r["backend"], r["device"], r["threads"]) for r in rows} == {("ort-cpu", cpu_name(), 1)}
    assert all(0 < r["p50_ms"] <= r["p99_ms"] for r in rows)
    after = read_manifest(bundle, verify=True)  # graphs and their sha256s untouched
    assert after.files == before.files and "manifest.json" not in after.files
    table = list(after.tables.latency)
    other = LatencyRow.from_json(OTHER, "OTHER")
    assert other in table  # another machine's rows survive
    assert not [row for row in table if row.batch == 99]  # this machine's stale rows do not
    written = [LatencyRow.from_json(row, "row") for row in rows]
    assert sorted(table, key=str) == sorted([other, *written], key=str)
    assert after.tables.accuracy == before.tables.accuracy
    assert not list(bundle.glob(".manifest.*"))  # no temp file left behind
    assert stat.S_IMODE((bundle / "manifest.json").stat().st_mode) == 0o644  # still readable by a server's user


def test_recalibrating_replaces_rather_than_appends(bundle: Path) -> None:
    calibrate(bundle, **SMALL)
    rows = calibrate(bundle, **{**SMALL, "batches": (1,), "seqs": (8,)})
    assert [r.__dict__ for r in read_manifest(bundle).tables.latency] == rows


def test_runtime_policy_reads_the_calibrated_rows(bundle: Path) -> None:
    with pytest.raises(PolicyError, match="no latency rows"):
        Runtime.load(bundle, device="cpu").choose(latency_budget_ms=1e6)
    calibrate(bundle, **SMALL)
    runtime = Runtime.load(bundle, device="cpu", threads=1)
    choice = runtime.choose(latency_budget_ms=1e6, batch=2, seq_len=16)
    row = next(r for r in runtime.manifest.tables.latency if (r.profile, r.batch, r.seq) == (choice.profile, 2, 16))
    assert choice.p99_ms == pytest.approx(row.p99_ms)
    assert runtime.device_name == cpu_name() and f"ort-cpu/{cpu_name()}" in choice.reason
    with pytest.raises(PolicyError, match="no profile fits latency budget 1e-06 ms"):
        runtime.choose(latency_budget_ms=1e-6)


@pytest.mark.skipif("CUDAExecutionProvider" in available_ort_providers(), reason="onnxruntime-gpu is installed")
def test_cuda_without_onnxruntime_gpu_is_one_line_and_writes_nothing(bundle: Path) -> None:
    before = _manifest_bytes(bundle)
    needle = r"device='cuda' needs onnxruntime-gpu.*pip install 'acc-deploy\[gpu\]'"
    with pytest.raises(BackendError, match=needle) as info:
        calibrate(bundle, device="cuda", **SMALL)
    assert "\n" not in str(info.value)
    assert _manifest_bytes(bundle) == before


@pytest.mark.parametrize(("kwargs", "error", "needle"), [
    ({"seqs": (8, 1024)}, DataError, r"seqs \[1024\] exceed the model's max_length 512"),
    ({"backend": "trt"}, BackendError, "calibration backend 'trt' is not supported"),
    ({"device": "tpu"}, BackendError, "unknown device 'tpu'"),
    ({"iters": 0}, DataError, "iters must be >= 1"),
    ({"batches": ()}, DataError, "batches and seqs must be positive integers"),
    ({"threads": 0}, DataError, "threads must be >= 1"),
])  # fmt: skip
def test_bad_arguments_are_one_line_and_write_nothing(bundle: Path, kwargs: dict, error: type, needle: str) -> None:
    before = _manifest_bytes(bundle)
    with pytest.raises(error, match=needle):
        calibrate(bundle, **{**SMALL, **kwargs})
    assert _manifest_bytes(bundle) == before


def test_a_failure_mid_measurement_writes_nothing(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def flaky(runs, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(1)
        if len(calls) == 3:
            raise BackendError("graph failed; test")
        return {label: [1.0, 2.0, 3.0] for label in runs}

    monkeypatch.setattr(calibrate_module, "measure_interleaved", flaky)
    before = _manifest_bytes(bundle)
    with pytest.raises(BackendError, match="graph failed"):
        calibrate(bundle, **SMALL)
    assert _manifest_bytes(bundle) == before


def test_a_modified_graph_is_refused_before_timing(bundle: Path) -> None:
    graph = bundle / read_manifest(bundle).profile("dense").graph
    graph.write_bytes(graph.read_bytes()[:-1] + b"\0")
    with pytest.raises(BundleError, match="sha256 mismatch|has sha256"):
        calibrate(bundle, **SMALL)


def test_bundle_without_profile_graphs_has_nothing_to_calibrate(bundle: Path) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    data["profiles"] = []
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match="ships no profile graphs"):
        calibrate(bundle, **SMALL)


def test_full_length_feeds_are_full_length_and_reproducible() -> None:
    feeds = full_length_feeds(3, 7, vocab_size=30522)
    assert {k: v.shape for k, v in feeds.items()} == dict.fromkeys(("input_ids", "attention_mask", "token_type_ids"),
                                                                   (3, 7))  # fmt: skip
    assert all(v.dtype == np.int64 for v in feeds.values())
    assert feeds["attention_mask"].min() == 1 and feeds["token_type_ids"].max() == 0
    assert feeds["input_ids"].min() >= 1000 and feeds["input_ids"].max() < 30000
    np.testing.assert_array_equal(feeds["input_ids"], full_length_feeds(3, 7, vocab_size=30522)["input_ids"])
    assert full_length_feeds(1, 5, vocab_size=100)["input_ids"].max() < 100  # tiny vocabularies stay in range
