"""exporter/bench/records.py: BenchRow / BenchReport JSON round trip, schema checks, never-overwrite writes.

The last tests read the JSON of a real (tiny) acc-bench run and check the numbers are consistent with each other.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from acc.exporter.bench import (
    ADJUSTABLE,
    BASELINE,
    BUNDLE_DENSE,
    PROFILE,
    SCHEMA_VERSION,
    BenchReport,
    BenchRow,
    results_stem,
    write_json_new,
)
from acc.exporter.dense_baseline import BASELINE_METHOD
from acc.profiles import DataError, theoretical_speedup
from acc.runtime import read_manifest


def _row(**overrides) -> BenchRow:  # noqa: ANN003
    values = dict(
        model="tiny", candidate="s3", kind=PROFILE, profile="s3", backend="ort-cpu", device="Test CPU",
        compute_capability=None, precision="fp32", threads=2, batch=8, seq=128, warmup=3, iters=20,
        p50_ms=10.5, p90_ms=11.0, p99_ms=12.25, mean_ms=10.75, throughput_seqs_per_s=761.9, speedup_vs_dense=2.5,
        speedup_vs_bundle_dense=2.75, speedup_vs_dense_paired=2.45, theoretical_speedup=3.0, measured_over_theoretical=2.5 / 3.0,
        acc_version="0.1.0", onnx_version="1.17.0", ort_version="1.20.0", trt_version=None,
    )  # fmt: skip
    values.update(overrides)
    return BenchRow(**values)


def _report(rows=None, **metadata) -> BenchReport:  # noqa: ANN001, ANN003
    rows = rows if rows is not None else (_row(), _row(candidate="baseline", kind=BASELINE, profile="dense"))
    return BenchReport(name="cpu-tiny", created_utc="2025-01-31T12:00:00Z", metadata={"latency_only": False, **metadata},
                       rows=tuple(rows))  # fmt: skip


def test_row_round_trip_keeps_numbers_as_numbers() -> None:
    row = _row()
    data = json.loads(json.dumps(row.to_dict()))
    assert BenchRow.from_dict(data) == row
    assert isinstance(data["p50_ms"], float) and isinstance(data["batch"], int) and data["trt_version"] is None


def test_report_json_round_trip() -> None:
    report = _report(baseline={"fused_ops": {"Attention": 2}})
    text = report.to_json()
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION and data["kind"] == "acc-bench"
    assert BenchReport.from_dict(data) == report
    assert report.candidates == ["s3", "baseline"] and report.batches == [8] and report.seqs == [128]


@pytest.mark.parametrize(("field", "value"), [("p50_ms", float("nan")), ("speedup_vs_dense", float("inf")),
                                              ("p99_ms", "12 ms"), ("theoretical_speedup", True)])  # fmt: skip
def test_row_refuses_non_numbers(field: str, value: object) -> None:
    with pytest.raises(DataError, match=field):
        _row(**{field: value})


def test_row_refuses_unknown_kind() -> None:
    with pytest.raises(DataError, match="kind 'turbo'"):
        _row(kind="turbo")


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(schema_version=2), "schema_version 2"),
    (lambda d: d.update(kind="something-else"), "not an acc-bench results file"),
    (lambda d: d["rows"][0].pop("p99_ms"), r"rows\[0\] lacks \['p99_ms'\]"),
    (lambda d: d.pop("rows"), "rows list"),
])  # fmt: skip
def test_bad_results_are_one_line_data_errors(mutate, message: str) -> None:  # noqa: ANN001
    data = _report().to_dict()
    mutate(data)
    with pytest.raises(DataError, match=message) as info:
        BenchReport.from_dict(data)
    assert "\n" not in str(info.value)


def test_load_reports_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read bench results"):
        BenchReport.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        BenchReport.load(bad)


def test_results_are_new_files_never_overwritten(tmp_path: Path) -> None:
    moment = datetime(2025, 1, 31, 12, 0, 0, tzinfo=UTC)
    stem = results_stem(tmp_path / "results", "cpu-tiny", moment)
    assert stem.name == "cpu-tiny_20250131T120000Z"
    path = write_json_new(_report(), stem.with_suffix(".json"))
    before = path.read_bytes()
    with pytest.raises(DataError, match="already exists"):
        write_json_new(_report(rows=[_row(p50_ms=1.0)]), path)
    assert path.read_bytes() == before
    assert BenchReport.load(path) == _report()


# ----------------------------------------------------------------------------------- a real tiny acc-bench run


def test_real_run_json_is_consistent(tiny_bench, tiny_export_bundle: Path) -> None:  # noqa: ANN001
    report = BenchReport.load(tiny_bench.files.json)
    assert report == tiny_bench.report
    assert report.candidates == ["baseline", "dense", "s1.5", "adjustable@s1.5"]
    assert {row.kind for row in report.rows} == {BASELINE, BUNDLE_DENSE, PROFILE, ADJUSTABLE}
    assert {(row.batch, row.seq, row.iters, row.warmup) for row in report.rows} == {(1, 16, 3, 1)}
    by = {row.candidate: row for row in report.rows}
    assert by["baseline"].speedup_vs_dense == 1.0 and by["dense"].speedup_vs_bundle_dense == 1.0
    assert by["baseline"].speedup_vs_dense_paired == 1.0
    profile = read_manifest(tiny_export_bundle).profile("s1.5").profile
    shape = read_manifest(tiny_export_bundle).model.shape
    for row in report.rows:
        assert math.isclose(row.speedup_vs_dense, by["baseline"].p50_ms / row.p50_ms)
        assert math.isclose(row.speedup_vs_bundle_dense, by["dense"].p50_ms / row.p50_ms)
        assert math.isclose(row.throughput_seqs_per_s, row.batch * 1e3 / row.p50_ms)
        assert row.p50_ms <= row.p90_ms <= row.p99_ms
        assert math.isclose(row.measured_over_theoretical, row.speedup_vs_dense / row.theoretical_speedup)
        expected = 1.0 if row.kind in (BASELINE, BUNDLE_DENSE) else theoretical_speedup(profile.keep_ratios, shape, 16)
        assert math.isclose(row.theoretical_speedup, expected)
        assert row.backend == "ort-cpu" and row.precision == "fp32" and row.ort_version and row.acc_version


def test_real_run_metadata_names_the_baseline(tiny_bench) -> None:  # noqa: ANN001
    meta = tiny_bench.report.metadata
    assert meta["baseline"]["method"] == BASELINE_METHOD
    assert "Optimum unavailable" in meta["baseline"]["method"]
    fused = meta["baseline"]["fused_ops"]
    assert fused["Attention"] == 2 and fused["EmbedLayerNormalization"] == 1 and fused["SkipLayerNormalization"] == 4
    assert meta["baseline"]["max_abs_diff"] <= 1e-4
    assert meta["latency_only"] is False
    assert meta["session"]["threads"] == tiny_bench.report.rows[0].threads
    assert meta["grid"]["seqs"] == [16]
    assert tiny_bench.files.json.name.startswith("cpu-tiny-bert_") and tiny_bench.files.json.suffix == ".json"


def test_replace_keeps_rows_frozen() -> None:
    row = _row()
    with pytest.raises(AttributeError):
        row.p50_ms = 1.0  # type: ignore[misc]
    assert replace(row, p50_ms=1.0).p50_ms == 1.0
