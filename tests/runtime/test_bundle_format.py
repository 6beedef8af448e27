"""acc.runtime.bundle_format: the typed manifest records both the exporter and the runtime use."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from acc.profiles import BundleError, EncoderShape, profile_for_speedup
from acc.runtime.bundle_format import (
    BUNDLE_FORMAT,
    FORMAT_VERSION,
    AccuracyRow,
    BundleManifest,
    EngineEntry,
    FileEntry,
    LatencyRow,
    Manifest,
    ModelCard,
    ProfileEntry,
    Tables,
)

SHAPE = EncoderShape(num_layers=4, hidden_size=64, intermediate_size=128, num_heads=4)
CARD = ModelCard("tiny", "tests", "bert", 4, 64, 4, 128, ("negative", "positive"), 128, ("input_ids", "attention_mask"))


def _manifest(**changes: Any) -> BundleManifest:
    values: dict[str, Any] = {
        "versions": {"acc": "0.1.0"},
        "model": CARD,
        "files": {"graphs/dense.onnx": FileEntry("0" * 64, 10), "tokenizer/tokenizer.json": FileEntry("1" * 64, 2)},
        "profiles": (ProfileEntry("dense", "graphs/dense.onnx", profile_for_speedup(SHAPE, 1.0, name="dense")),),
        "tables": Tables(
            accuracy=(AccuracyRow("dense", "sst2-dev", 872, 0.9, label_agreement=1.0),),
            latency=(LatencyRow("dense", "ort-cpu", "cpu", 1, 64, 1.0, 2.0, threads=2),),
        ),
        "engines": (EngineEntry("dense", "tensorrt-rtx", "sm89", "fp16", "engines/d.engine", "1.7", {"batch": [1]}),),
    }
    values.update(changes)
    return BundleManifest(**values)


def test_every_record_round_trips_through_json() -> None:
    manifest = _manifest()
    data = manifest.to_json()
    assert data["format"] == BUNDLE_FORMAT and data["format_version"] == FORMAT_VERSION
    assert BundleManifest.from_json(data, "m", strict=True) == manifest
    assert Manifest.from_json(data, "m").to_json() == data  # the reader's record writes the same document


def test_open_records_keep_a_familys_own_keys_flat() -> None:
    card = dataclasses.replace(CARD, family="causal-lm", min_keep=2, extra={"vocab_size": 50257, "eos_token_id": 0})
    manifest = _manifest(model=card, sections={"decode": {"graph": "graphs/decode.onnx"}})
    data = manifest.to_json()
    assert data["model"]["vocab_size"] == 50257 and data["decode"] == {"graph": "graphs/decode.onnx"}
    again = BundleManifest.from_json(data, "m", strict=True)
    assert again.model.extra == {"vocab_size": 50257, "eos_token_id": 0} and again.sections == manifest.sections


def test_strict_refuses_unknown_keys_lenient_ignores_them() -> None:
    data = _manifest().to_json()
    data["tables"]["latency"][0]["p95_ms"] = 1.5
    with pytest.raises(BundleError, match=r"tables.latency\[0\] has keys \['p95_ms'\] .*LatencyRow"):
        BundleManifest.from_json(data, "m", strict=True)
    assert BundleManifest.from_json(data, "m").tables.latency == _manifest().tables.latency


def test_null_means_the_default_and_missing_required_keys_are_named() -> None:
    data = _manifest().to_json()
    data["engines"], data["validation"] = None, None
    manifest = BundleManifest.from_json(data, "m")
    assert manifest.engines == () and manifest.validation == {}
    del data["profiles"][0]["profile"]
    with pytest.raises(BundleError, match=r"m profiles\[0\] lacks key 'profile'; re-export"):
        BundleManifest.from_json(data, "m")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["files"].update({"../x": {"sha256": "0" * 64, "bytes": 1}}), "outside the bundle"),
        (lambda d: d["files"]["graphs/dense.onnx"].update(sha256="ABC"), "is not 64 lower-case hex digits"),
        (lambda d: d["engines"][0].update(file="/etc/passwd"), "outside the bundle"),
        (lambda d: d["model"].update(labels="negative"), "model.labels is a str, expected a JSON list"),
        (lambda d: d["tables"]["accuracy"][0].update(examples=[1]), r"examples = \[1\] is not of type int"),
        (lambda d: d.update(allow_mismatch=1), "allow_mismatch = 1 is not of type bool"),
    ],
)
def test_bad_values_are_one_line_errors(edit, message: str) -> None:
    data = _manifest().to_json()
    edit(data)
    with pytest.raises(BundleError, match=message) as exc:
        BundleManifest.from_json(data, "m")
    assert "\n" not in str(exc.value)
