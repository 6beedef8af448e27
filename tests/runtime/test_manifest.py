"""runtime/manifest.py (+ integrity.py): parsing, every bad-bundle case as one BundleError line, table updates."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acc.profiles import BundleError, PolicyError
from acc.runtime import (
    FORMAT_VERSION,
    AccuracyRow,
    LatencyRow,
    Manifest,
    read_manifest,
    update_manifest_tables,
)
from acc.runtime.integrity import sha256_of

MakeBundle = Callable[..., Path]


def _edit_manifest(bundle: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = bundle / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message and ";" in message  # one line: what went wrong; how to fix
    return message


def test_valid_bundle_parses_into_records(make_fake_bundle: MakeBundle) -> None:
    manifest = read_manifest(make_fake_bundle())
    assert isinstance(manifest, Manifest)
    assert manifest.profile_names == ["dense", "s1.5", "s3"]
    assert manifest.profile("s3").target_speedup == 3.0
    assert manifest.profile("s3").profile.num_layers == 6
    assert manifest.model.labels == ("negative", "positive") and manifest.model.shape.hidden_size == 384
    assert manifest.adjustable is not None and manifest.adjustable.input == "keep_ratios"
    assert manifest.tokenizer == "tokenizer" and manifest.engines == ()
    assert all(isinstance(row, AccuracyRow) for row in manifest.tables.accuracy)
    assert {row.batch for row in manifest.tables.latency} == {1, 8}
    assert manifest.path("graphs/dense.onnx").is_file()


def test_unknown_profile_name_lists_the_shipped_ones(make_fake_bundle: MakeBundle) -> None:
    manifest = read_manifest(make_fake_bundle())
    with pytest.raises(PolicyError, match=r"no profile 's9'.*\['dense', 's1.5', 's3'\]"):
        manifest.profile("s9")


def test_unknown_keys_are_ignored(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle(graph_format={"opset": 18}, extra_key=1)
    _edit_manifest(bundle, lambda d: d["tables"]["latency"][0].update(p90_ms=1.0, iters=50))
    assert read_manifest(bundle).tables.latency[0].p99_ms > 0


def test_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist") as exc:
        read_manifest(tmp_path / "nope")
    _one_line(exc)


def test_not_a_directory(tmp_path: Path) -> None:
    path = tmp_path / "bundle.tar"
    path.write_bytes(b"x")
    with pytest.raises(BundleError, match="is not a directory") as exc:
        read_manifest(path)
    _one_line(exc)


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"not an acc bundle \(no manifest.json\)") as exc:
        read_manifest(tmp_path)
    _one_line(exc)


def test_corrupted_json(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    (bundle / "manifest.json").write_text('{"format": "acc-bundle", ')
    with pytest.raises(BundleError, match=r"manifest.json is not valid JSON \(.*\); re-export") as exc:
        read_manifest(bundle)
    _one_line(exc)


def test_json_that_is_not_an_object(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    (bundle / "manifest.json").write_text("[1, 2]")
    with pytest.raises(BundleError, match="holds a JSON list"):
        read_manifest(bundle)


def test_wrong_format(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    _edit_manifest(bundle, lambda d: d.update(format="something-else"))
    with pytest.raises(BundleError, match="has format 'something-else', expected 'acc-bundle'") as exc:
        read_manifest(bundle)
    _one_line(exc)


def test_newer_format_version_says_upgrade(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()

    def newer(data: dict[str, Any]) -> None:
        data["format_version"] = FORMAT_VERSION + 1
        data["versions"]["acc"] = "9.9.9"

    _edit_manifest(bundle, newer)
    with pytest.raises(
        BundleError, match=r"format_version 2, written by acc-deploy 9.9.9; .*upgrade acc-deploy"
    ) as exc:
        read_manifest(bundle)
    _one_line(exc)


@pytest.mark.parametrize("version", [0, "1", None, True])
def test_invalid_format_version(make_fake_bundle: MakeBundle, version: Any) -> None:
    bundle = make_fake_bundle()
    _edit_manifest(bundle, lambda d: d.update(format_version=version))
    with pytest.raises(BundleError, match="invalid format_version"):
        read_manifest(bundle)


def test_missing_file(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    (bundle / "graphs" / "s3.onnx").unlink()
    with pytest.raises(BundleError, match="is missing file graphs/s3.onnx listed in manifest.json") as exc:
        read_manifest(bundle, verify=False)  # presence is checked even without re-hashing
    _one_line(exc)


def test_hash_mismatch_names_file_and_fix(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    path = bundle / "graphs" / "weights.bin"
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"graphs/weights.bin .* sha256 .*modified after export.*re-export") as exc:
        read_manifest(bundle)
    _one_line(exc)
    assert read_manifest(bundle, verify=False).profile_names  # verify=False skips hashing only


def test_truncated_file_is_caught_by_size(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    path = bundle / "graphs" / "dense.onnx"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(BundleError, match=r"graphs/dense.onnx .* bytes, manifest.json says .*truncated"):
        read_manifest(bundle, verify=False)


def test_profile_graph_not_listed(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    _edit_manifest(bundle, lambda d: d["profiles"][1].update(graph="graphs/ghost.onnx"))
    with pytest.raises(BundleError, match="profile 's1.5' graph graphs/ghost.onnx is not listed") as exc:
        read_manifest(bundle)
    _one_line(exc)


def test_adjustable_and_engine_must_be_listed(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    _edit_manifest(bundle, lambda d: d["adjustable"].update(graph="graphs/other.onnx"))
    with pytest.raises(BundleError, match="adjustable graph graphs/other.onnx is not listed"):
        read_manifest(bundle)
    engine = {"profile": "s3", "backend": "trt", "compute_capability": "9.0", "precision": "fp16",
              "file": "engines/s3.plan", "trt_version": "10.9"}  # fmt: skip
    _edit_manifest(bundle, lambda d: d.update(adjustable=None, engines=[engine]))
    with pytest.raises(BundleError, match="engine engines/s3.plan .* is not listed"):
        read_manifest(bundle)


def test_path_outside_bundle_is_refused(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    _edit_manifest(bundle, lambda d: d["files"].update({"../secret": {"sha256": "0" * 64, "bytes": 1}}))
    with pytest.raises(BundleError, match="outside the bundle"):
        read_manifest(bundle)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("model"), "lacks key 'model'"),
        (lambda d: d["model"].pop("labels"), r"model lacks key 'labels'"),
        (lambda d: d["model"].update(num_layers="six"), r"model.num_layers = 'six' is not of type int"),
        (lambda d: d["profiles"][0].pop("graph"), r"profiles\[0\] lacks key 'graph'"),
        (lambda d: d["profiles"][0]["profile"].update(keep_ratios=[0.5, 1.0]), r"profiles\[0\].profile is invalid"),
        (lambda d: d["tables"]["latency"][0].pop("p99_ms"), r"tables.latency\[0\] lacks key 'p99_ms'"),
        (lambda d: d.update(profiles=d["profiles"] + d["profiles"][:1]), "lists a profile name twice"),
        (lambda d: d.update(files="nope"), "files is a str, expected a JSON dict"),
    ],
)
def test_malformed_manifest(make_fake_bundle: MakeBundle, edit: Callable[[dict[str, Any]], Any], message: str) -> None:
    bundle = make_fake_bundle()
    _edit_manifest(bundle, edit)
    with pytest.raises(BundleError, match=message) as exc:
        read_manifest(bundle)
    _one_line(exc)


# ------------------------------------------------------------------------------------------ update_manifest_tables


def _latency(profile: str, seq: int, p99: float, device: str = "Other CPU") -> LatencyRow:
    return LatencyRow(profile, "ort-cpu", device, batch=1, seq=seq, p50_ms=p99 / 2, p99_ms=p99, threads=2)


def test_update_replaces_rows_of_the_same_backend_and_device(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle(graph_format={"opset": 18})
    before = read_manifest(bundle)
    hashes = {path: sha256_of(bundle / path) for path in before.files}
    update_manifest_tables(bundle, latency_rows=[_latency("dense", 64, 5.0), _latency("s3", 64, 2.0)])
    update_manifest_tables(bundle, latency_rows=[_latency("dense", 64, 4.0)])  # re-calibration of that device
    after = read_manifest(bundle)  # still verifies: no bundle file changed
    other = [row for row in after.tables.latency if row.device == "Other CPU"]
    assert [(row.profile, row.p99_ms) for row in other] == [("dense", 4.0)]
    assert [row for row in after.tables.latency if row.device == "Test CPU"] == list(before.tables.latency)
    assert {path: sha256_of(bundle / path) for path in after.files} == hashes
    assert json.loads((bundle / "manifest.json").read_text())["graph_format"] == {"opset": 18}  # unknown keys kept
    assert not [p for p in bundle.iterdir() if p.name.startswith(".manifest.")]


def test_update_fills_device_and_backend_from_arguments(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    row = {"profile": "s1.5", "batch": 2, "seq": 16, "p50_ms": 1.0, "p99_ms": 1.5}
    manifest = update_manifest_tables(bundle, latency_rows=[row], device="Test CPU", backend="ort-cpu")
    assert [(r.profile, r.batch) for r in manifest.tables.latency] == [("s1.5", 2)]  # old Test CPU rows replaced
    with pytest.raises(BundleError, match="has device 'X', not 'Test CPU'"):
        update_manifest_tables(bundle, latency_rows=[{**row, "device": "X"}], device="Test CPU", backend="ort-cpu")


def test_update_accuracy_rows_by_profile_and_dataset(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    manifest = update_manifest_tables(bundle, accuracy_rows=[AccuracyRow("s3", "sst2-dev", 872, 0.5)])
    rows = {(r.profile, r.dataset): r.accuracy for r in manifest.tables.accuracy}
    assert rows[("s3", "sst2-dev")] == 0.5 and rows[("dense", "sst2-dev")] == pytest.approx(0.9)
    assert len(manifest.tables.accuracy) == 3


def test_update_refuses_unknown_profiles_and_leaves_the_file_alone(make_fake_bundle: MakeBundle) -> None:
    bundle = make_fake_bundle()
    before = (bundle / "manifest.json").read_bytes()
    with pytest.raises(BundleError, match="names profile 's9', not in bundle"):
        update_manifest_tables(bundle, latency_rows=[_latency("s9", 64, 1.0)])
    with pytest.raises(BundleError, match="lacks key 'p99_ms'"):
        update_manifest_tables(bundle, latency_rows=[{"profile": "dense", "backend": "b", "device": "d", "batch": 1,
                                                      "seq": 1, "p50_ms": 1.0}])  # fmt: skip
    assert (bundle / "manifest.json").read_bytes() == before


def test_update_is_atomic_when_the_write_fails(make_fake_bundle: MakeBundle, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = make_fake_bundle()
    before = (bundle / "manifest.json").read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("no space left")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="no space left"):
        update_manifest_tables(bundle, latency_rows=[_latency("dense", 64, 1.0)])
    monkeypatch.undo()
    assert (bundle / "manifest.json").read_bytes() == before
    assert not [p for p in bundle.iterdir() if p.name.startswith(".manifest.")]


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_update_keeps_the_manifest_file_mode(make_fake_bundle: MakeBundle, mode: int) -> None:
    """The temp file it writes is created 0600; a server running as another user must still read the manifest."""
    import stat

    bundle = make_fake_bundle()
    (bundle / "manifest.json").chmod(mode)
    update_manifest_tables(bundle, latency_rows=[_latency("dense", 64, 1.0)])
    assert stat.S_IMODE((bundle / "manifest.json").stat().st_mode) == mode
