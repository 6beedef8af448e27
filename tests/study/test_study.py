"""The study (benchmarks/study) end to end on the tiny 4-layer model (--smoke), and the report's crossing and interpolation arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from acc_study.__main__ import main
from acc_study.options import StudyError, StudyOptions
from acc_study.report import at_speedups, crossings, merge_parts

ROOT = Path(__file__).resolve().parents[2]


def test_every_stage_then_render_writes_the_report(tiny4_checkpoint, sst2_dir, tmp_path, capsys) -> None:
    out, work, results = tmp_path / "out", tmp_path / "work", tmp_path / "results"
    common = ["-o", str(out), "--work-dir", str(work), "--data-dir", str(sst2_dir), "--smoke"]
    assert main(["dense", *common, "--model", str(tiny4_checkpoint)]) == 0
    assert main(["power-bert", *common, "--power-speedup", "2"]) == 0
    assert main(["lat", *common, "--model", str(tiny4_checkpoint)]) == 0
    assert main(["acc", *common, "--model", str(tiny4_checkpoint)]) == 0
    parts = sorted(out.glob("study-*.json"))
    assert [p.name for p in parts] == [
        "study-acc.json",
        "study-dense.json",
        "study-lat.json",
        "study-power-bert-2x.json",
    ]

    dense = json.loads((out / "study-dense.json").read_text())
    assert dense["options"]["smoke"] and dense["data"]["train_examples"] == 32
    assert [m["method"] for m in dense["methods"]] == ["dense", "post-hoc-acc"]
    assert dense["methods"][0]["train_steps"] == 4  # 32 examples, batch 8, 1 epoch
    power = json.loads((out / "study-power-bert-2x.json").read_text())["methods"][0]
    assert power["train_steps"] == 4 + 4 + 4  # dense + configuration search + re-training
    assert power["points"][0]["theoretical_speedup_128"] >= 2.0
    lat = json.loads((out / "study-lat.json").read_text())["methods"][0]
    assert lat["train"][0]["configs_per_step"] == 3 and lat["search"]["generations"] == 2
    assert lat["points"][0]["profile"] == "dense"  # the full LengthDrop model is LAT's 1x point
    for point in lat["points"][1:]:  # the best profile per budget respects it, and was ranked on held-out data
        assert point["theoretical_speedup_128"] >= min(point["budgets"]) - 1e-9
        assert 0.0 <= point["heldout_accuracy"] <= 1.0

    assert main(["render", *map(str, parts), "--output", str(results)]) == 0
    (report_path,) = results.glob("accuracy-sst2-smoke_*.json")
    report = json.loads(report_path.read_text())
    assert [m["method"] for m in report["methods"]] == ["dense", "post-hoc-acc", "power-bert", "lat", "acc-offline",
                                                        "acc-search"]  # fmt: skip
    assert report_path.with_suffix(".png").stat().st_size > 10_000
    markdown = report_path.with_suffix(".md").read_text()
    assert "SMOKE RUN" in markdown and "> 0.75 pts below" in markdown
    assert "wrote" in capsys.readouterr().out


def test_acc_stage_searches_with_a_bundle_latency_table(
    tiny_checkpoint, tiny_export_bundle, sst2_dir, tmp_path
) -> None:
    import shutil

    from acc.runtime import update_manifest_tables

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_export_bundle, bundle)
    rows = [
        {"profile": p, "batch": 8, "seq": 128, "p50_ms": ms, "p99_ms": ms} for p, ms in (("dense", 4.0), ("s1.5", 3.0))
    ]
    update_manifest_tables(bundle, latency_rows=rows, backend="ort-cpu", device="test-cpu")
    out = tmp_path / "out"
    assert main(["acc", "-o", str(out), "--data-dir", str(sst2_dir), "--smoke", "--model", str(tiny_checkpoint),
                 "--latency-bundle", str(bundle)]) == 0  # fmt: skip
    methods = json.loads((out / "study-acc.json").read_text())["methods"]
    latency = next(m for m in methods if m["method"] == "acc-search-latency")
    assert latency["search"]["cost"] == "latency" and "b8 s128 p50" in latency["label"]
    assert all(p["search_cost"] == "latency" for p in latency["points"][1:])


def _report(dense: float, curves: dict[str, list[tuple[float, float]]]) -> dict:
    methods = [{"method": "dense", "points": [{"theoretical_speedup_128": 1.0, "accuracy": dense}]}]
    for name, points in curves.items():
        methods.append({"method": name, "points": [{"theoretical_speedup_128": s, "accuracy": a} for s, a in points]})
    return {"dense_accuracy": dense, "methods": methods}


def test_crossings_interpolate_the_first_drop_past_each_threshold() -> None:
    report = _report(0.90, {
        "acc-offline": [(1.0, 0.90), (2.0, 0.895), (3.0, 0.88), (4.0, 0.86)],  # 0.5, 2.0, 4.0 points below
        "lat": [(1.0, 0.90), (2.0, 0.899)],  # never 0.75 below within its range
        "power-bert": [(1.5, 0.87)],  # starts at the dense model: 3 points below at 1.5x
    })  # fmt: skip
    rows = {(r["method"], r["threshold_pts"]): r for r in crossings(report)}
    assert rows[("acc-offline", 0.75)]["crossing_speedup"] == pytest.approx(2.0 + 0.25 / 1.5)
    assert rows[("acc-offline", 1.5)]["crossing_speedup"] == pytest.approx(2.0 + 1.0 / 1.5)
    assert rows[("lat", 0.75)]["crossing_speedup"] is None and rows[("lat", 0.75)]["last_within"] == 2.0
    assert rows[("power-bert", 0.75)]["crossing_speedup"] == pytest.approx(1.0 + 0.75 / 3.0 * 0.5)
    table = at_speedups(report, (1.5, 3.0, 5.0))
    acc = next(r for r in table["rows"] if r["method"] == "acc-offline")["accuracy"]
    assert acc[0] == pytest.approx(0.8975) and acc[1] == pytest.approx(0.88) and acc[2] is None


def test_render_refuses_parts_without_dense_or_mixed_runs(tmp_path) -> None:
    part = {"schema_version": 1, "kind": "acc-study-part", "stage": "lat", "created_utc": "x", "environment": {},
            "options": {"smoke": True}, "data": {"dev_examples": 32}, "methods": []}  # fmt: skip
    path = tmp_path / "study-lat.json"
    path.write_text(json.dumps(part))
    with pytest.raises(StudyError, match="no dense part"):
        merge_parts([path])
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(StudyError, match="not a study part"):
        merge_parts([tmp_path / "bad.json"])


def test_options_reject_impossible_values() -> None:
    with pytest.raises(StudyError, match="epochs=0 must be at least 1"):
        StudyOptions(out="x", epochs=0)
    with pytest.raises(StudyError, match="must be >= 1"):
        StudyOptions(out="x", budgets=(0.5,))


def test_rerender_rebuilds_markdown_and_png_of_the_committed_report(tmp_path, capsys) -> None:
    committed = ROOT / "benchmarks" / "results" / "accuracy-sst2_20261125T145121Z.json"
    copy = tmp_path / committed.name
    copy.write_bytes(committed.read_bytes())
    assert main(["rerender", str(copy)]) == 0
    assert "post-hoc-acc" in copy.with_suffix(".md").read_text()
    assert copy.with_suffix(".png").stat().st_size > 0
    assert capsys.readouterr().out.startswith("wrote ")
