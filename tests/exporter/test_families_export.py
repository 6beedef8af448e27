"""RoBERTa, DistilBERT and MPNet through ``acc-export``: every graph kind exported, validated and served.

Per family (tiny random 4-layer configs with real tokenizers, ``tests/tiny_encoders.py``): a bundle with dense,
two offline-tuned profiles and the adjustable graph, validated on SST-2 dev sentences and the fast shape grid; the
graphs take no ``token_type_ids``; the runtime's predictions equal the PyTorch model's; the fused form (RoBERTa,
DistilBERT) matches PyTorch, MPNet's is refused with one line; and a regression head (num_labels=1) exports.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from tiny_encoders import make_tiny_encoder
from tiny_graphs import GOLDEN_ATOL, flat_profile, ort_session

from acc.exporter import ExportOptions, GraphSpec, config_for, export_graph, main_export
from acc.profiles import ExportError

FAMILIES = ("roberta", "distilbert", "mpnet")
TEXTS = ["a gorgeous , witty , seductive movie .", "flat and boring .", "it is not a bad film , but not a good one ."]


@pytest.fixture(scope="module", params=FAMILIES)
def exported(request: pytest.FixtureRequest, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    family = request.param
    folder = tmp_path_factory.mktemp(f"family-{family}")
    checkpoint = make_tiny_encoder(family, folder / "checkpoint")
    options = ExportOptions(model=str(checkpoint), speedups=(1.5, 3.0), output=folder / "bundle", data_dir=sst2_dir,
                            max_examples=16, validate_grid="fast", bench=False, progress=False, threads=1)  # fmt: skip
    return {"family": family, "checkpoint": checkpoint, "result": main_export(options)}


def test_every_graph_is_validated_and_takes_no_token_type_ids(exported: dict) -> None:
    bundle = exported["result"].bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["model"]["architecture"] == exported["family"]
    assert manifest["model"]["inputs"] == ["input_ids", "attention_mask"]
    graphs = sorted(path.stem for path in (bundle / "graphs").glob("*.onnx"))
    assert graphs == ["adjustable", "dense", "s1.5", "s3"]
    for name in graphs:
        proto = onnx.load(str(bundle / "graphs" / f"{name}.onnx"), load_external_data=False)
        assert [i.name for i in proto.graph.input][:2] == ["input_ids", "attention_mask"]
        assert "token_type_ids" not in {i.name for i in proto.graph.input}
    reports = manifest["validation"]["reports"]
    assert {(r["graph"], r["source"]) for r in reports} >= {(g, s) for g in graphs for s in ("sst2-dev", "synthetic")}
    assert not manifest["validation"]["failures"]
    assert all(r["label_agreement"] == 1.0 and r["max_abs_diff"] < 1e-4 for r in reports)


def test_runtime_predictions_equal_the_pytorch_model(exported: dict) -> None:
    from acc.modeling.checkpoint import load_model
    from acc.runtime import Runtime

    runtime = Runtime.load(exported["result"].bundle)
    loaded = load_model(exported["checkpoint"])
    for profile, speedup in (("dense", 1.0), ("s3", 3.0)):
        out = runtime.predict(TEXTS, speedup=speedup)
        assert out.profile == profile
        ratios = runtime.manifest.profile(profile).profile.keep_ratios
        batch = loaded.tokenizer(TEXTS, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = loaded.model(batch["input_ids"], batch["attention_mask"], keep_ratios=list(ratios)).logits
        np.testing.assert_allclose(out.probabilities, torch.softmax(logits, -1).numpy(), atol=1e-5)


def test_fused_form_matches_pytorch_or_is_refused(exported: dict, tmp_path: Path) -> None:
    from acc.modeling.checkpoint import load_model

    loaded = load_model(exported["checkpoint"])
    model, config = loaded.model, config_for(loaded.model.config)
    profile = flat_profile(model.shape)
    spec = GraphSpec(profile.name, profile)
    if exported["family"] == "mpnet":
        with pytest.raises(ExportError, match="relative position bias.*--attention eager"):
            export_graph(model, spec, tmp_path / "fused.onnx", config, attention="fused")
        return
    graph = export_graph(model, spec, tmp_path / "fused.onnx", config, attention="fused")
    batch = loaded.tokenizer(TEXTS, padding=True, return_tensors="np")
    feeds = {
        "input_ids": batch["input_ids"].astype(np.int64),
        "attention_mask": batch["attention_mask"].astype(np.int64),
    }
    logits = ort_session(graph.path).run(["logits"], feeds)[0]
    with torch.no_grad():
        reference = model(torch.from_numpy(feeds["input_ids"]), torch.from_numpy(feeds["attention_mask"]),
                          keep_ratios=list(profile.keep_ratios)).logits  # fmt: skip
    np.testing.assert_allclose(logits, reference.numpy(), atol=GOLDEN_ATOL)


@pytest.mark.parametrize("family", FAMILIES)
def test_regression_head_exports(family: str, sst2_dir: Path, tmp_path: Path) -> None:
    checkpoint = make_tiny_encoder(family, tmp_path / "checkpoint", num_layers=2, num_labels=1)
    options = ExportOptions(model=str(checkpoint), speedups=(1.5,), output=tmp_path / "bundle", data_dir=sst2_dir,
                            max_examples=8, validate_grid="none", adjustable=False, bench=False, progress=False,
                            threads=1)  # fmt: skip
    bundle = main_export(options).bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["model"]["labels"] == ["score"]
    assert all(r["max_abs_diff"] < 1e-4 for r in manifest["validation"]["reports"])
    from acc.modeling.checkpoint import load_model
    from acc.runtime import Runtime

    runtime = Runtime.load(bundle)
    out = runtime.predict(TEXTS, speedup=1.5)
    loaded = load_model(checkpoint)
    batch = loaded.tokenizer(TEXTS, padding=True, return_tensors="pt")
    ratios = list(runtime.manifest.profile("s1.5").profile.keep_ratios)
    with torch.no_grad():
        reference = loaded.model(batch["input_ids"], batch["attention_mask"], keep_ratios=ratios).logits
    assert out.logits.shape == (len(TEXTS), 1)
    np.testing.assert_allclose(out.logits, reference.numpy(), atol=1e-5)
