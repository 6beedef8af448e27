"""Bundles for runtime tests.

``tiny_bundle``: a bundle of ``tiny_checkpoint`` (2-layer, hidden-64 random BERT) written by the real exporter,
``main_export``: graphs ``dense``, ``s1.5`` (one TokenSelect before layer 2) and ``adjustable``, shared
``graphs/weights.bin``, the checkpoint's tokenizer, and measured tables (accuracy on the first SST-2 dev examples,
CPU latency at batch 1 and 4 x length 16 and 64). A 2-layer encoder tops out just below 2x (layer 1 is always
dense), hence speedup 1.5.

``make_fake_bundle``: bundles whose graphs are placeholder bytes, for manifest checks that never start a session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acc.exporter.bundle import new_staging_dir, write_bundle
from acc.profiles import EncoderShape, Profile, profile_for_speedup

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
LABELS = ["negative", "positive"]
TINY_SPEEDUP = 1.5  # a 2-layer encoder tops out just below 2x (layer 1 is always dense)
TINY_EXAMPLES = 32  # SST-2 dev examples behind the accuracy table


def _model_card(shape: EncoderShape, name: str, max_length: int = 512) -> dict[str, Any]:
    return {
        "name": name, "source": "tests", "architecture": "bert", "num_layers": shape.num_layers,
        "hidden_size": shape.hidden_size, "num_heads": shape.num_heads, "intermediate_size": shape.intermediate_size,
        "labels": LABELS, "max_length": max_length, "inputs": INPUTS,
    }  # fmt: skip


def _tables(names: list[str], device: str) -> dict[str, list[dict[str, Any]]]:
    """Made-up but consistent tables (for placeholder bundles): later profiles are faster and less accurate."""
    accuracy = [
        {"profile": n, "dataset": "sst2-dev", "examples": 872, "accuracy": 0.90 - 0.01 * i, "label_agreement": 1.0,
         "max_abs_diff": 1e-6}
        for i, n in enumerate(names)
    ]  # fmt: skip
    latency = [
        {"profile": n, "backend": "ort-cpu", "device": device, "batch": b, "seq": s,
         "p50_ms": 0.8 * (b * s / 64) / (1 + i), "p99_ms": (b * s / 64) / (1 + i), "threads": 2}
        for i, n in enumerate(names) for b in (1, 8) for s in (32, 128)
    ]  # fmt: skip
    return {"accuracy": accuracy, "latency": latency}


def build_tiny_bundle(checkpoint: Path, target: Path, data_dir: Path) -> Path:
    """A complete bundle (dense, s1.5, adjustable) of the tiny checkpoint, written by ``main_export``."""
    from acc.exporter import ExportOptions, main_export

    options = ExportOptions(
        model=str(checkpoint), speedups=(TINY_SPEEDUP,), output=target, data_dir=data_dir,
        max_examples=TINY_EXAMPLES, validate_grid="none", bench_iters=3, bench_batches=(1, 4), bench_seqs=(16, 64),
        threads=1, progress=False,
    )  # fmt: skip
    return main_export(options).bundle


@pytest.fixture(scope="session")
def tiny_bundle(tiny_checkpoint: Path, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a real exported bundle of ``tiny_checkpoint``: graphs dense, s1.5 and adjustable."""
    return build_tiny_bundle(tiny_checkpoint, tmp_path_factory.mktemp("bundles") / "tiny-bundle", sst2_dir)


FAKE_SHAPE = EncoderShape(num_layers=6, hidden_size=384, intermediate_size=1536, num_heads=12)


def fake_profiles() -> list[Profile]:
    return [profile_for_speedup(FAKE_SHAPE, s, name="dense" if s == 1.0 else None) for s in (1.0, 1.5, 3.0)]


@pytest.fixture
def make_fake_bundle(tmp_path: Path) -> Callable[..., Path]:
    """``make_fake_bundle(**overrides)`` → a valid bundle dir (placeholder graph bytes) with manifest overrides."""

    def make(name: str = "bundle", **overrides: Any) -> Path:
        target = tmp_path / name
        staging = new_staging_dir(target)
        profiles = fake_profiles()
        (staging / "graphs").mkdir()
        (staging / "tokenizer").mkdir()
        (staging / "tokenizer" / "tokenizer.json").write_text("{}")
        (staging / "graphs" / "weights.bin").write_bytes(bytes(range(256)) * 16)
        for graph in [p.name for p in profiles] + ["adjustable"]:
            (staging / "graphs" / f"{graph}.onnx").write_bytes(f"placeholder {graph}".encode())
        fields = {
            "versions": {"opset": 17},
            "model": _model_card(FAKE_SHAPE, "fake"),
            "profiles": [{"name": p.name, "graph": f"graphs/{p.name}.onnx", "profile": p.to_dict()} for p in profiles],
            "adjustable": {"graph": "graphs/adjustable.onnx", "input": "keep_ratios"},
            "tables": _tables([p.name for p in profiles], "Test CPU"),
        }
        fields.update(overrides)
        return write_bundle(staging, target, fields)

    return make


@pytest.fixture(scope="module")
def runtime(tiny_export_bundle: Path) -> Any:
    """The tiny export bundle on CPU with one thread: the runtime the server tests serve."""
    from acc.runtime import Runtime

    return Runtime.load(tiny_export_bundle, device="cpu", threads=1)


@pytest.fixture(scope="module")
def client(runtime: Any) -> Iterator[Any]:
    """A FastAPI test client of ``acc-serve``'s app over ``runtime`` (batching wait 1 ms, at most 4 texts)."""
    from fastapi.testclient import TestClient

    from acc.runtime.server import create_app

    with TestClient(create_app(runtime, max_wait_ms=1, max_texts=4)) as client:
        yield client
