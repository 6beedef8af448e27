"""exporter/pipeline.py: ``main_export`` on tiny4 end to end: bundle contents, tables, failure cleanup, inline graphs.

One export with small settings (32 SST-2 examples, no synthetic grid, a 1 × 16 latency table) is shared by the
module; the failure and inline cases run their own, smaller, exports. Shape-grid parity of the graphs themselves
is in test_export.py; the FAST grid through ``main_export`` is a slow test.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from tiny_graphs import GOLDEN_ATOL, kept_index, ort_session, random_feeds, torch_reference

from acc.exporter import ExportOptions, ExportResult, count_token_select, main_export
from acc.exporter.export import kept_index_name
from acc.exporter.token_select import DOMAIN
from acc.profiles import ExportError, ToleranceError, pruned_layers
from acc.runtime import read_manifest

SPEEDUPS = (1.5, 2.5)
NAMES = ["dense", "s1.5", "s2.5"]


def _options(checkpoint: Path, sst2_dir: Path, output: Path, **overrides: Any) -> ExportOptions:
    options = ExportOptions(
        model=str(checkpoint), speedups=SPEEDUPS, output=output, data_dir=sst2_dir, max_examples=32,
        validate_grid="none", bench_iters=3, bench_batches=(1,), bench_seqs=(16,), threads=1, progress=False,
    )  # fmt: skip
    return replace(options, **overrides)


def _dot_entries(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def exported(tiny4_checkpoint: Path, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    output = tmp_path_factory.mktemp("pipeline") / "tiny4-bundle"
    return main_export(_options(tiny4_checkpoint, sst2_dir, output))


@pytest.fixture(scope="module")
def manifest_json(exported: ExportResult) -> dict[str, Any]:
    return json.loads((exported.bundle / "manifest.json").read_text())


# ------------------------------------------------------------------------------------------------ a good export


def test_bundle_is_verified_by_the_runtime_reader(exported: ExportResult) -> None:
    manifest = read_manifest(exported.bundle, verify=True)  # re-hashes every file
    assert manifest.profile_names == NAMES
    assert [entry.graph for entry in manifest.profiles] == [f"graphs/{name}.onnx" for name in NAMES]
    assert [entry.profile.target_speedup for entry in manifest.profiles] == [1.0, *SPEEDUPS]
    assert manifest.adjustable is not None and manifest.adjustable.graph == "graphs/adjustable.onnx"
    assert manifest.adjustable.input == "keep_ratios"
    assert manifest.model.num_layers == 4 and manifest.model.labels == ("negative", "positive")
    assert manifest.model.inputs == ("input_ids", "attention_mask", "token_type_ids")
    assert not manifest.allow_mismatch
    assert {"graphs/weights.bin", "tokenizer/tokenizer.json", *(f"profiles/{n}.json" for n in NAMES)} <= set(
        manifest.files
    )
    assert not [p for p in exported.bundle.parent.iterdir() if ".staging-" in p.name]


def test_graphs_share_one_weights_file_and_have_one_select_per_pruned_layer(
    exported: ExportResult, manifest_json: dict[str, Any]
) -> None:
    weights = exported.bundle / "graphs" / "weights.bin"
    graph_bytes = 0
    for entry in manifest_json["profiles"]:
        proto = onnx.load(str(exported.bundle / entry["graph"]), load_external_data=False)
        expected = len(pruned_layers(entry["profile"]["keep_ratios"]))
        assert count_token_select(proto) == entry["token_select_nodes"] == expected, entry["name"]
        assert expected == (0 if entry["name"] == "dense" else 3)
        graph_bytes += (exported.bundle / entry["graph"]).stat().st_size
    adjustable = onnx.load(str(exported.bundle / "graphs/adjustable.onnx"), load_external_data=False)
    assert count_token_select(adjustable) == 3
    locations = {
        e.value for t in adjustable.graph.initializer for e in t.external_data if e.key == "location"
    }  # fmt: skip
    assert locations == {"weights.bin"}
    assert graph_bytes < weights.stat().st_size / 10  # N profiles cost ~1x the model


def test_accuracy_table_has_one_row_per_profile(exported: ExportResult, manifest_json: dict[str, Any]) -> None:
    rows = read_manifest(exported.bundle, verify=False).tables.accuracy
    assert [row.profile for row in rows] == NAMES
    for row in rows:
        assert row.dataset == "sst2-dev" and row.examples == 32
        assert row.label_agreement == 1.0 and row.max_abs_diff is not None and row.max_abs_diff < GOLDEN_ATOL
        assert row.accuracy in {k / 32 for k in range(33)}
    for raw in manifest_json["tables"]["accuracy"]:
        assert raw["accuracy"] == raw["torch_accuracy"]  # ORT and PyTorch got the same examples right
    assert [row.profile for row in exported.rows] == NAMES
    assert [row.accuracy for row in exported.rows] == [row.accuracy for row in rows]


def test_latency_table_has_one_row_per_profile_and_cell(exported: ExportResult, manifest_json: dict[str, Any]) -> None:
    rows = read_manifest(exported.bundle, verify=False).tables.latency
    assert [(row.profile, row.batch, row.seq) for row in rows] == [(name, 1, 16) for name in NAMES]
    for row in rows:
        assert row.backend == "ort-cpu" and row.threads == 1 and 0 < row.p50_ms <= row.p99_ms
    adjustable = manifest_json["validation"]["adjustable_latency"]
    assert [row["graph"] for row in adjustable] == ["adjustable@s1.5", "adjustable@s2.5"]
    assert [row.cpu_speedup is not None for row in exported.rows] == [True, True, True]
    assert exported.rows[0].cpu_speedup == 1.0


def test_validation_reports_cover_every_graph_and_source(exported: ExportResult, manifest_json: dict[str, Any]) -> None:
    validation = manifest_json["validation"]
    assert validation["failures"] == [] and validation["grid"] == "none"
    seen = [(r["graph"], r["profile"], r["source"]) for r in validation["reports"]]
    expected = [(name, name, "sst2-dev") for name in NAMES] + [("adjustable", name, "sst2-dev") for name in NAMES[1:]]
    assert seen == expected
    for report in validation["reports"]:
        assert report["samples_with_flips"] == 0 and report["label_agreement"] == 1.0
        assert report["max_abs_diff"] < GOLDEN_ATOL
    assert exported.failures == []


def test_bundle_graphs_match_pytorch_off_the_export_shapes(exported: ExportResult, tiny4_checkpoint: Path) -> None:
    from acc.modeling.checkpoint import load_model

    model = load_model(tiny4_checkpoint).model
    manifest = read_manifest(exported.bundle, verify=False)
    entry = manifest.profile("s2.5")
    session = ort_session(manifest.path(entry.graph))
    names = [output.name for output in session.get_outputs()]
    for batch, seq_len in ((3, 9), (2, 70)):
        feeds = random_feeds(batch, seq_len, seed=seq_len)
        outputs = dict(zip(names, session.run(names, feeds)))
        reference = torch_reference(model, feeds, entry.profile.keep_ratios)
        np.testing.assert_allclose(outputs["logits"], reference.logits.numpy(), atol=GOLDEN_ATOL, rtol=0)
        for layer in pruned_layers(entry.profile.keep_ratios):
            np.testing.assert_array_equal(outputs[kept_index_name(layer)], kept_index(reference, layer))


# ------------------------------------------------------------------------------------------------------- failures


def test_validation_failure_raises_and_leaves_nothing(
    exported: ExportResult, manifest_json: dict[str, Any], tiny4_checkpoint: Path, sst2_dir: Path, tmp_path: Path
) -> None:
    # atol 1e-30 fails honestly only where ORT and PyTorch really differ: check that on the good export first.
    sst2 = [r for r in manifest_json["validation"]["reports"] if r["source"] == "sst2-dev"]
    failing = sorted({r["graph"] for r in sst2 if r["max_abs_diff"] > 1e-30 and r["profile"] in ("dense", "s1.5")})
    assert failing == ["adjustable", "dense", "s1.5"]
    target = tmp_path / "out" / "bundle"
    options = _options(tiny4_checkpoint, sst2_dir, target, speedups=(1.5,), atol=1e-30, bench=False)
    with pytest.raises(ToleranceError) as info:
        main_export(options)
    message = str(info.value)
    assert "\n" not in message and "validation failure(s)" in message and "> atol 1e-30" in message
    for graph in failing:
        assert f"graph {graph} (" in message, graph
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no bundle, no .staging- dir, nothing


def test_allow_mismatch_writes_the_bundle_and_records_it(
    tiny4_checkpoint: Path, sst2_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "bundle"
    options = _options(tiny4_checkpoint, sst2_dir, target, speedups=(1.5,), atol=1e-30, allow_mismatch=True,
                       bench=False, adjustable=False, max_examples=8)  # fmt: skip
    result = main_export(options)
    manifest = read_manifest(target)
    assert manifest.allow_mismatch is True and manifest.adjustable is None and manifest.tables.latency == ()
    assert len(result.failures) == len(manifest.validation["failures"]) >= 1
    assert all("> atol 1e-30" in failure for failure in result.failures)


def test_existing_bundle_without_overwrite_is_an_export_error(
    exported: ExportResult, tiny4_checkpoint: Path, sst2_dir: Path
) -> None:
    before = (exported.bundle / "manifest.json").read_bytes()
    entries = sorted(p.name for p in exported.bundle.parent.iterdir())
    with pytest.raises(ExportError, match="bundle .*tiny4-bundle already exists; pass --overwrite"):
        main_export(_options(tiny4_checkpoint, sst2_dir, exported.bundle))
    assert (exported.bundle / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in exported.bundle.parent.iterdir()) == entries


# --------------------------------------------------------------------------------------------------------- inline


def test_inline_graphs_have_no_token_select_and_still_run(
    tiny4_checkpoint: Path, sst2_dir: Path, tmp_path: Path
) -> None:
    from acc.modeling.checkpoint import load_model

    target = tmp_path / "inline"
    options = _options(tiny4_checkpoint, sst2_dir, target, speedups=(2.5,), inline=True, max_examples=8, bench=False)
    main_export(options)
    manifest = read_manifest(target)
    raw = json.loads((target / "manifest.json").read_text())
    assert raw["graph_format"]["inline"] is True
    assert [entry["token_select_nodes"] for entry in raw["profiles"]] == [0, 0]
    model = load_model(tiny4_checkpoint).model
    feeds = random_feeds(3, 11, seed=4)
    ratios = {"dense": None, "s2.5": manifest.profile("s2.5").profile.keep_ratios}
    for name, graph in [(e.name, e.graph) for e in manifest.profiles] + [("s2.5", manifest.adjustable.graph)]:
        path = manifest.path(graph)
        proto = onnx.load(str(path), load_external_data=False)
        assert count_token_select(proto) == 0 and not proto.functions, graph
        assert not any(node.domain == DOMAIN for node in proto.graph.node), graph
        onnx.checker.check_model(str(path), full_check=True)
        run_feeds = dict(feeds)
        if graph.endswith("adjustable.onnx"):
            run_feeds["keep_ratios"] = np.asarray(ratios["s2.5"], dtype=np.float32)
        logits = ort_session(path).run(["logits"], run_feeds)[0]
        reference = torch_reference(model, feeds, ratios[name]).logits.numpy()
        np.testing.assert_allclose(logits, reference, atol=GOLDEN_ATOL, rtol=0, err_msg=graph)


@pytest.mark.slow
def test_fast_grid_validation_through_main_export(tiny4_checkpoint: Path, sst2_dir: Path, tmp_path: Path) -> None:
    from acc.exporter.validate import FAST_GRID

    options = _options(tiny4_checkpoint, sst2_dir, tmp_path / "b", validate_grid="fast", max_examples=8, bench=False)
    result = main_export(options)
    reports = json.loads((result.bundle / "manifest.json").read_text())["validation"]["reports"]
    synthetic = [r for r in reports if r["source"] == "synthetic"]
    assert [(r["graph"], r["profile"]) for r in synthetic] == [(n, n) for n in NAMES] + [
        ("adjustable", n) for n in NAMES[1:]
    ]
    for report in synthetic:
        assert report["examples"] == sum(batch for batch, _ in FAST_GRID)
        assert report["samples_with_flips"] == 0 and report["max_abs_diff"] < GOLDEN_ATOL
