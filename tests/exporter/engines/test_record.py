"""exporter/engines/record.py: engine file names, precision lists, and manifest entries that round-trip.

The round trip writes a bundle with ``exporter.bundle.write_bundle`` and reads it with ``runtime.read_manifest``.
Its engine file is a PLACEHOLDER (a few bytes, not an engine): this tests file handling and the manifest, nothing
TensorRT would load.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from acc.exporter.bundle import new_staging_dir, write_bundle
from acc.exporter.engines import (
    ShapeRanges,
    engine_file_name,
    parse_engine_file_name,
    parse_precisions,
)
from acc.profiles import BundleError, EncoderShape, EngineBuildError, profile_for_speedup
from acc.runtime import EngineEntry, read_manifest

SHAPE = EncoderShape(num_layers=4, hidden_size=64, intermediate_size=128, num_heads=4)


@pytest.mark.parametrize(
    ("key", "name"),
    [
        (("s1.5", "tensorrt", "8.7", "fp16"), "s1.5.tensorrt.sm87.fp16.engine"),
        (("dense", "tensorrt-rtx", "sm89", "fp32"), "dense.tensorrt-rtx.sm89.fp32.engine"),
        (("adjustable", "tensorrt", "sm_121", "fp16"), "adjustable.tensorrt.sm121.fp16.engine"),
    ],
)
def test_engine_file_name_spells_the_key_and_parses_back(key: tuple[str, ...], name: str) -> None:
    assert engine_file_name(*key) == name
    profile, backend, cc, precision = parse_engine_file_name(f"engines/{name}")
    assert (profile, backend, precision) == (key[0], key[1], key[3]) and cc == name.split(".")[-3]


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        (("../x", "tensorrt", "sm87", "fp16"), "cannot name an engine file"),
        (("a/b", "tensorrt", "sm87", "fp16"), "cannot name an engine file"),
        (("s3.0", "onnxruntime", "sm87", "fp16"), "backend 'onnxruntime'"),
        (("s3.0", "tensorrt", "sm87", "int8"), "precision 'int8'"),
        (("s3.0", "tensorrt", "hopper", "fp16"), "compute capability 'hopper'"),
    ],
)
def test_engine_file_name_rejects_bad_parts(key: tuple[str, ...], needle: str) -> None:
    with pytest.raises(EngineBuildError, match=needle):
        engine_file_name(*key)


@pytest.mark.parametrize("name", ["s3.0.engine", "s3.0.tensorrt.sm87.fp16.plan", "s3.0.trt.sm87.fp16.engine"])
def test_parse_engine_file_name_rejects(name: str) -> None:
    with pytest.raises(EngineBuildError, match="is not named"):
        parse_engine_file_name(name)


def test_parse_precisions() -> None:
    assert parse_precisions("fp16") == ("fp16",)
    assert parse_precisions(" fp16 , fp32 ") == ("fp16", "fp32")
    for bad, needle in (("int8", "takes fp16 and/or fp32"), ("", "takes"), ("fp16,fp16", "twice")):
        with pytest.raises(EngineBuildError, match=needle):
            parse_precisions(bad)


def _record(**overrides: object) -> EngineEntry:
    record = EngineEntry(
        profile="s1.5", backend="tensorrt", compute_capability="sm87", precision="fp16",
        file="engines/s1.5.tensorrt.sm87.fp16.engine", trt_version="10.3.0",
        shapes=ShapeRanges((1, 4, 8), (16, 64, 256)).to_dict(), build_seconds=12.346, network_layers=321,
    )  # fmt: skip
    return replace(record, **overrides)


def test_engine_entry_round_trips_through_the_manifest_json() -> None:
    record = _record()
    entry = record.to_json()
    assert entry["shapes"] == {"batch": [1, 4, 8], "seq": [16, 64, 256]} and entry["build_seconds"] == 12.346
    assert EngineEntry.from_json(json.loads(json.dumps(entry)), "engine", strict=True) == record
    assert ShapeRanges.from_dict(record.shapes) == ShapeRanges((1, 4, 8), (16, 64, 256))
    with pytest.raises(BundleError, match="engine lacks key 'file'"):
        EngineEntry.from_json({k: v for k, v in entry.items() if k != "file"}, "engine")


def _write(tmp_path: Path, engines: list[dict], engine_files: list[str]) -> Path:
    target = tmp_path / "bundle"
    staging = new_staging_dir(target)
    profiles = [profile_for_speedup(SHAPE, s, name="dense" if s == 1.0 else None) for s in (1.0, 1.5)]
    (staging / "graphs").mkdir()
    (staging / "tokenizer").mkdir()
    (staging / "tokenizer" / "tokenizer.json").write_text("{}")
    for profile in profiles:
        (staging / "graphs" / f"{profile.name}.onnx").write_bytes(b"placeholder graph")
    for file in engine_files:
        (staging / file).parent.mkdir(exist_ok=True)
        (staging / file).write_bytes(b"PLACEHOLDER, not a TensorRT engine")
    card = {"name": "t", "source": "tests", "architecture": "bert", "num_layers": 4, "hidden_size": 64,
            "num_heads": 4, "intermediate_size": 128, "labels": ["negative", "positive"], "max_length": 512,
            "inputs": ["input_ids", "attention_mask", "token_type_ids"]}  # fmt: skip
    fields = {
        "model": card, "engines": engines, "versions": {"tensorrt": "10.3.0"},
        "profiles": [{"name": p.name, "graph": f"graphs/{p.name}.onnx", "profile": p.to_dict()} for p in profiles],
    }  # fmt: skip
    return write_bundle(staging, target, fields)


def test_manifest_round_trip_with_a_placeholder_engine_file(tmp_path: Path) -> None:
    """File handling only: the engine file is placeholder bytes, hashed and listed like any bundle file."""
    records = [_record(), _record(profile="dense", file="engines/dense.tensorrt.sm87.fp16.engine")]
    bundle = _write(tmp_path, [r.to_json() for r in records], [r.file for r in records])
    manifest = read_manifest(bundle, verify=True)
    assert manifest.engines == tuple(records)
    assert all(entry.file in manifest.files for entry in manifest.engines)
    assert manifest.versions["tensorrt"] == "10.3.0"
    raw = json.loads((bundle / "manifest.json").read_text())["engines"]
    assert [EngineEntry.from_json(entry, "engine", strict=True) for entry in raw] == records


def test_an_engine_entry_without_its_file_is_not_written(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="engine for profile 's1.5'.*is not a file in the bundle"):
        _write(tmp_path, [_record().to_json()], [])
    assert not (tmp_path / "bundle").exists()
