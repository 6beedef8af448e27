"""exporter/bundle.py: hashing, manifest defaults, atomic move into place, overwrite rules; the typed format
(acc.runtime.bundle_format) both the writer and the reader use."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from acc.exporter import bundle as bundle_mod
from acc.exporter.bundle import file_digest, new_staging_dir, write_bundle
from acc.profiles import BundleError, EncoderShape, profile_for_speedup
from acc.runtime import BUNDLE_FORMAT, FORMAT_VERSION, MANIFEST_NAME, BundleManifest, FileEntry, read_manifest

SHAPE = EncoderShape(num_layers=4, hidden_size=64, intermediate_size=128, num_heads=4)


def _stage(target: Path, payload: bytes = b"graph") -> Path:
    staging = new_staging_dir(target)
    (staging / "graphs").mkdir()
    (staging / "graphs" / "dense.onnx").write_bytes(payload)
    (staging / "weights.bin").write_bytes(b"\0" * 1000)
    (staging / "tokenizer").mkdir()
    (staging / "tokenizer" / "tokenizer.json").write_text("{}")
    return staging


def _fields() -> dict:
    return {
        "model": {
            "name": "tiny", "source": "test", "architecture": "bert", "num_layers": 4, "hidden_size": 64,
            "num_heads": 4, "intermediate_size": 128, "labels": ["negative", "positive"], "max_length": 512,
            "inputs": ["input_ids", "attention_mask", "token_type_ids"], "checkpoint_accuracy": 0.9,
        },
        "profiles": [
            {"name": "dense", "graph": "graphs/dense.onnx",
             "profile": profile_for_speedup(SHAPE, 1.0, name="dense").to_dict()}
        ],
        "versions": {"opset": 17},
    }  # fmt: skip


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_file_digest_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    data = bytes(range(256)) * 5000  # > 1 MiB chunk
    path.write_bytes(data)
    digest = file_digest(path)
    assert digest.sha256 == hashlib.sha256(data).hexdigest()
    assert digest.bytes == len(data)
    assert digest.to_json() == {"sha256": digest.sha256, "bytes": len(data)}


def test_file_digest_missing_file_is_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot read .*nope.bin"):
        file_digest(tmp_path / "nope.bin")


def test_staging_dir_sits_beside_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "bundle"
    staging = new_staging_dir(target)
    assert staging.parent == target.parent and staging.is_dir() and staging.name.startswith(".bundle.staging-")


def test_write_bundle_hashes_every_file_and_fills_manifest(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    result = write_bundle(_stage(target), target, _fields())
    assert result == target and target.is_dir()
    manifest = json.loads((target / MANIFEST_NAME).read_text())
    assert manifest["format"] == BUNDLE_FORMAT and manifest["format_version"] == FORMAT_VERSION
    assert sorted(manifest["files"]) == ["graphs/dense.onnx", "tokenizer/tokenizer.json", "weights.bin"]
    assert manifest["files"]["weights.bin"] == {"sha256": hashlib.sha256(b"\0" * 1000).hexdigest(), "bytes": 1000}
    assert manifest["versions"]["opset"] == 17 and "onnx" in manifest["versions"]
    assert manifest["engines"] == [] and manifest["adjustable"] is None and manifest["allow_mismatch"] is False
    assert manifest["tables"] == {"accuracy": [], "latency": []}
    assert manifest["created_utc"].endswith("Z")
    assert _leftovers(tmp_path) == []


def test_existing_target_needs_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    write_bundle(_stage(target, b"old"), target, _fields())
    with pytest.raises(BundleError, match="already exists; pass overwrite=True"):
        write_bundle(_stage(target, b"new"), target, _fields())
    assert (target / "graphs" / "dense.onnx").read_bytes() == b"old"
    assert _leftovers(tmp_path) == []  # the refused staging dir is gone too
    write_bundle(_stage(target, b"new"), target, _fields(), overwrite=True)
    assert (target / "graphs" / "dense.onnx").read_bytes() == b"new"
    assert _leftovers(tmp_path) == []  # no backup of the old bundle left behind


def test_exception_mid_write_leaves_no_target_and_no_staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "bundle"
    staging = _stage(target)
    calls = []

    def failing_digest(path: Path) -> FileEntry:
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk on fire")
        return FileEntry("0" * 64, 0)

    monkeypatch.setattr(bundle_mod, "file_digest", failing_digest)
    with pytest.raises(OSError, match="disk on fire"):
        write_bundle(staging, target, _fields())
    assert not target.exists() and not staging.exists()
    assert _leftovers(tmp_path) == []


def test_unserialisable_manifest_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    staging = _stage(target)
    fields = {**_fields(), "validation": {"max_abs_diff": float("nan")}}
    with pytest.raises(BundleError, match="not plain JSON"):
        write_bundle(staging, target, fields)
    assert not target.exists() and not staging.exists()


def test_failed_rename_on_overwrite_restores_old_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "bundle"
    write_bundle(_stage(target, b"old"), target, _fields())
    staging = _stage(target, b"new")
    real_rename = Path.rename

    def rename(self: Path, dest: Path) -> Path:
        if self == staging:
            raise OSError("rename failed")
        return real_rename(self, dest)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        write_bundle(staging, target, _fields(), overwrite=True)
    monkeypatch.undo()
    assert (target / "graphs" / "dense.onnx").read_bytes() == b"old"
    assert not staging.exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.update(files={}), "'files' is computed by write_bundle"),
        (lambda f: f.pop("profiles"), "lacks profiles"),
        (lambda f: f["profiles"][0].update(graph="graphs/s9.onnx"), "'graphs/s9.onnx' is not a file in the bundle"),
        (
            lambda f: f.update(adjustable={"graph": "graphs/adjustable.onnx", "input": "keep_ratios"}),
            "adjustable graph",
        ),
        (lambda f: f.update(tokenizer="tok"), "tokenizer directory tok/"),
        # strict on write: a misspelt key or a wrong type fails the export, not the first load of the bundle
        (lambda f: f["profiles"][0].update(graph_name="x"), r"profiles\[0\] has keys \['graph_name'\] that the bundle"),
        (lambda f: f.update(allow_mismatch="no"), "allow_mismatch = 'no' is not of type bool"),
        (lambda f: f["model"].update(num_heads=5), "num_heads"),
        (lambda f: f["model"].pop("inputs"), "model lacks key 'inputs'"),
        (lambda f: f.update(tables={"latency": [{"profile": "dense"}]}), r"tables.latency\[0\] lacks key"),
        (lambda f: f["profiles"][0].update(graph="../dense.onnx"), "outside the bundle"),
    ],
)
def test_bad_manifest_fields_are_refused_before_anything_moves(tmp_path: Path, change, message: str) -> None:
    target = tmp_path / "bundle"
    staging = _stage(target)
    fields = _fields()
    change(fields)
    with pytest.raises(BundleError, match=message):
        write_bundle(staging, target, fields)
    assert not target.exists() and not staging.exists()


def test_staging_must_be_beside_target(tmp_path: Path) -> None:
    staging = _stage(tmp_path / "elsewhere" / "x")
    with pytest.raises(BundleError, match="not beside"):
        write_bundle(staging, tmp_path / "bundle", _fields())
    assert not staging.exists()


def test_symlinks_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    staging = _stage(target)
    (tmp_path / "outside.bin").write_bytes(b"x")
    (staging / "link.bin").symlink_to(tmp_path / "outside.bin")
    with pytest.raises(BundleError, match="link.bin is a symlink"):
        write_bundle(staging, target, _fields())
    assert not target.exists()


def test_round_trip_through_the_runtime_reader(tmp_path: Path) -> None:
    """The writer and the reader share one format module; what one writes the other reads back equal."""
    target = tmp_path / "bundle"
    fields = _fields()
    fields["validation"] = {"atol": 1e-4}
    fields["decode"] = {"graph": "graphs/dense.onnx"}  # a family's own section travels as it is
    write_bundle(_stage(target), target, fields)
    manifest = read_manifest(target)
    assert manifest.profile_names == ["dense"] and manifest.model.num_layers == 4
    assert manifest.model.extra == {"checkpoint_accuracy": 0.9} and manifest.sections == {"decode": fields["decode"]}
    assert set(manifest.files) == {"graphs/dense.onnx", "tokenizer/tokenizer.json", "weights.bin"}
    written = json.loads((target / MANIFEST_NAME).read_text())
    assert manifest.to_json() == written  # nothing dropped, nothing added: the reader's record is the document
    assert BundleManifest.from_json(written, "again", strict=True).to_json() == written


def test_the_reader_ignores_keys_a_newer_writer_added(tmp_path: Path) -> None:
    """Lenient on read: format 1 may grow optional keys without breaking older readers."""
    target = tmp_path / "bundle"
    write_bundle(_stage(target), target, _fields())
    data = json.loads((target / MANIFEST_NAME).read_text())
    data["profiles"][0]["new_key"] = 1
    (target / MANIFEST_NAME).write_text(json.dumps(data))
    assert read_manifest(target).profiles[0].name == "dense"
