"""T5 export: encoder graph per profile + decoder step graph, validated end to end against PyTorch (tiny model)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest

from acc.exporter import ExportOptions
from acc.exporter.export import count_token_select
from acc.profiles import ExportError, Profile, pruned_layers


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def test_bundle_has_encoder_graphs_decoder_and_passing_validation(tiny_t5_bundle, tiny_t5_checkpoint) -> None:
    from acc.runtime import read_manifest

    manifest = read_manifest(tiny_t5_bundle, verify=True)  # sha256 of every file, the decoder graph included
    raw = _manifest(tiny_t5_bundle)
    assert raw["model"]["family"] == "seq2seq" and manifest.model.architecture == "t5"
    assert manifest.profile_names == ["dense", "s1.5", "s2"] and manifest.adjustable is not None
    decoder = raw["seq2seq"]["decoder"]
    assert decoder["graph"] in manifest.files and decoder["num_layers"] == 2
    for entry in manifest.profiles:
        proto = onnx.load(str(manifest.path(entry.graph)), load_external_data=False)
        assert count_token_select(proto) == len(pruned_layers(entry.profile.keep_ratios))
        assert [o.name for o in proto.graph.output][:2] == ["encoder_hidden", "encoder_mask"]
    reports = raw["validation"]["reports"]
    assert {(r["graph"], r["source"]) for r in reports} >= {
        (name, source) for name in ("dense", "s1.5", "s2") for source in ("synthetic", "sst2-dev:review-question")
    }
    assert all(r["label_agreement"] == 1.0 and r["max_abs_diff"] <= 1e-4 for r in reports)
    assert raw["validation"]["failures"] == []
    assert {row.profile for row in manifest.tables.latency} == {"dense", "s1.5", "s2"}
    assert len(raw["seq2seq"]["generation_latency"]) == 3
    # One weights file for 4 encoder graphs and the decoder: every parameter stored once in fp32, plus the LM head's
    # transposed copy that constant folding makes (the embedding table itself is shared with the encoders).
    from safetensors import safe_open

    with safe_open(str(tiny_t5_checkpoint / "model.safetensors"), "np") as tensors:
        params = sum(tensors.get_tensor(name).size for name in tensors.keys())  # noqa: SIM118 - safe_open is not iterable
    weights = (tiny_t5_bundle / "graphs" / "weights.bin").stat().st_size
    lm_head = raw["model"]["vocab_size"] * raw["model"]["hidden_size"]
    assert params * 4 <= weights <= (params + lm_head) * 4 + 64 * 200


@pytest.mark.parametrize("graph", ["s2", "adjustable"])
def test_encoder_graph_keeps_the_profile_counts_for_every_length(tiny_t5_bundle, graph) -> None:
    import onnxruntime as ort

    profile = Profile.load(tiny_t5_bundle / "profiles" / "s2.json")
    session = ort.InferenceSession(str(tiny_t5_bundle / "graphs" / f"{graph}.onnx"), providers=["CPUExecutionProvider"])
    lengths = np.arange(1, 41)
    mask = (np.arange(40)[None, :] < lengths[:, None]).astype(np.int64)
    feeds = {"input_ids": np.full((40, 40), 7, dtype=np.int64) * mask, "attention_mask": mask}
    if graph == "adjustable":
        feeds["keep_ratios"] = np.asarray(profile.keep_ratios, dtype=np.float32)
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    for row, length in enumerate(lengths):
        expected = profile.keep_counts(int(length))
        for layer in pruned_layers(profile.keep_ratios):
            assert int((outputs[f"kept_index_{layer + 1}"][row] >= 0).sum()) == expected[layer]
        assert int(outputs["encoder_mask"][row].sum()) == expected[-1]


def test_bert_pipeline_dispatches_t5_checkpoints(tiny_t5_checkpoint, tiny_t5_bundle) -> None:
    from acc.exporter.pipeline import main_export

    with pytest.raises(ExportError, match="already exists"):  # raised by the seq2seq pipeline, before any work
        main_export(ExportOptions(model=str(tiny_t5_checkpoint), output=tiny_t5_bundle, progress=False))


def test_unsupported_options_fail_fast_with_one_line(tiny_t5_checkpoint, tmp_path) -> None:
    from acc.exporter.pipeline import main_export

    for options, message in [
        (ExportOptions(model=str(tiny_t5_checkpoint), output=tmp_path / "b", precision=("fp32", "fp16")),
         "--precision fp32,fp16 is not supported for t5 (seq2seq) models; drop --precision"),
        (ExportOptions(model=str(tiny_t5_checkpoint), output=tmp_path / "b", engine="trt"), "--engine trt"),
        (ExportOptions(model=str(tiny_t5_checkpoint), output=tmp_path / "b", attention="fused"), "--attention fused"),
    ]:  # fmt: skip
        with pytest.raises(ExportError, match=re.escape(message)):
            main_export(options)
    assert not (tmp_path / "b").exists()
