"""Bundles for runtime tests.

``tiny_bundle``: a real bundle built from ``tiny_checkpoint`` (2-layer, hidden-64 random BERT). Until the exporter's
``main_export`` is wired in here, its graphs are the dense Hugging Face model exported with the TorchScript exporter
(``dense`` and ``s1.5`` are the same graph, ``adjustable`` takes ``keep_ratios`` and ignores it), which is all the
runtime needs: real weights in a shared ``graphs/weights.bin``, a real tokenizer, the manifest contract. To switch to
the real exporter, replace ``_export_graphs`` (or the whole fixture body) with a ``main_export`` call.

``fake_bundle``: a bundle whose graphs are placeholder bytes, for manifest checks that never start a session.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from acc.exporter.bundle import new_staging_dir, write_bundle
from acc.profiles import EncoderShape, Profile, profile_for_speedup

INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
LABELS = ["negative", "positive"]
TINY_SPEEDUP = 1.5  # a 2-layer encoder tops out just below 2x (layer 1 is always dense)


def _model_card(shape: EncoderShape, name: str, max_length: int = 512) -> dict[str, Any]:
    return {
        "name": name, "source": "tests", "architecture": "bert", "num_layers": shape.num_layers,
        "hidden_size": shape.hidden_size, "num_heads": shape.num_heads, "intermediate_size": shape.intermediate_size,
        "labels": LABELS, "max_length": max_length, "inputs": INPUTS,
    }  # fmt: skip


def _tables(names: list[str], device: str) -> dict[str, list[dict[str, Any]]]:
    """Made-up but consistent tables: later profiles are faster and slightly less accurate."""
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


def _export_graphs(checkpoint: Path, graphs_dir: Path, names: list[str]) -> None:
    """Dense HF graph (logits only) as ``<name>.onnx`` for every name plus ``adjustable.onnx``, one weights.bin."""
    import onnx
    import torch
    from onnx import TensorProto, helper

    from acc.modeling.checkpoint import load_model

    loaded = load_model(checkpoint)

    class LogitsOnly(torch.nn.Module):
        def __init__(self, hf: torch.nn.Module) -> None:
            super().__init__()
            self.hf = hf

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            return self.hf(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    encoded = loaded.tokenizer(["a tiny example", "and a somewhat longer second example"], padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "sequence"}
    raw = graphs_dir.parent / "raw.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LogitsOnly(loaded.model.hf).eval(),
            tuple(encoded[name] for name in INPUTS),
            str(raw),
            dynamo=False,
            opset_version=17,
            input_names=INPUTS,
            output_names=["logits"],
            dynamic_axes={**{name: axes for name in INPUTS}, "logits": {0: "batch"}},
        )
    dense = onnx.load(str(raw))
    raw.unlink()
    first = graphs_dir / f"{names[0]}.onnx"
    onnx.save_model(dense, str(first), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)  # fmt: skip
    for name in names[1:]:
        (graphs_dir / f"{name}.onnx").write_bytes(first.read_bytes())

    # adjustable: logits + 0 * sum(keep_ratios), so the input must be fed with the right shape but changes nothing
    proto = onnx.load(str(first), load_external_data=False)
    producer = next(node for node in proto.graph.node if "logits" in node.output)
    producer.output[list(producer.output).index("logits")] = "logits_dense"
    proto.graph.input.append(helper.make_tensor_value_info("keep_ratios", TensorProto.FLOAT, [loaded.model.num_layers]))
    proto.graph.node.extend([
        helper.make_node("ReduceSum", ["keep_ratios"], ["kr_sum"], keepdims=0),
        helper.make_node("Constant", [], ["kr_zero"], value=helper.make_tensor("z", TensorProto.FLOAT, [], [0.0])),
        helper.make_node("Mul", ["kr_sum", "kr_zero"], ["kr_term"]),
        helper.make_node("Add", ["logits_dense", "kr_term"], ["logits"]),
    ])  # fmt: skip
    (graphs_dir / "adjustable.onnx").write_bytes(proto.SerializeToString())


def build_tiny_bundle(checkpoint: Path, target: Path) -> Path:
    """A complete bundle (dense, s1.5, adjustable) of the tiny checkpoint, written through ``write_bundle``."""
    from transformers import AutoConfig, AutoTokenizer

    from acc.runtime import cpu_name

    config = AutoConfig.from_pretrained(str(checkpoint))
    shape = EncoderShape.from_config(config)
    profiles = [profile_for_speedup(shape, 1.0, name="dense"), profile_for_speedup(shape, TINY_SPEEDUP)]
    names = [p.name for p in profiles]
    staging = new_staging_dir(target)
    (staging / "graphs").mkdir()
    (staging / "profiles").mkdir()
    _export_graphs(checkpoint, staging / "graphs", names)
    AutoTokenizer.from_pretrained(str(checkpoint)).save_pretrained(str(staging / "tokenizer"))
    for profile in profiles:
        profile.save(staging / "profiles" / f"{profile.name}.json")
    fields = {
        "versions": {"opset": 17},
        "model": _model_card(shape, checkpoint.name, max_length=int(config.max_position_embeddings)),
        "profiles": [{"name": p.name, "graph": f"graphs/{p.name}.onnx", "profile": p.to_dict()} for p in profiles],
        "adjustable": {"graph": "graphs/adjustable.onnx", "input": "keep_ratios"},
        "tables": _tables(names, cpu_name()),
        "validation": {"note": "test bundle: dense HF graph, no elimination"},
    }
    return write_bundle(staging, target, fields)


@pytest.fixture(scope="session")
def tiny_bundle(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a real bundle of ``tiny_checkpoint``: graphs dense, s1.5 (same graph) and adjustable."""
    return build_tiny_bundle(tiny_checkpoint, tmp_path_factory.mktemp("bundles") / "tiny-bundle")


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
