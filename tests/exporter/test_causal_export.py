"""Causal export (exporter/causal/, exporter/families.py): family dispatch, graphs, validation, the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from acc.exporter.causal.export import export_decode, export_prefill
from acc.exporter.families import CAUSAL_LM, ENCODER_CLASSIFIER, family_for_model
from acc.exporter.token_select import DOMAIN
from acc.modeling.causal.checkpoint import load_causal_model
from acc.modeling.checkpoint import model_family
from acc.profiles import ModelError, keep_counts, profile_for_speedup
from acc.runtime.causal_names import past_names, present_names
from acc.runtime.causal_step import left_pad
from acc.runtime.manifest import read_manifest


def test_family_dispatch_reads_the_checkpoint(
    tiny_gpt2_checkpoint: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    assert family_for_model(str(tiny_gpt2_checkpoint)).name == CAUSAL_LM
    assert family_for_model("bert-sst2").name == ENCODER_CLASSIFIER  # no family field: model_type bert
    assert model_family(tiny_checkpoint) == ENCODER_CLASSIFIER
    acc_config = json.loads((tiny_gpt2_checkpoint / "acc_config.json").read_text())
    assert acc_config["family"] == CAUSAL_LM
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelError, match="model_type 'llama'"):
        model_family(odd)


def test_prefill_and_decode_graphs_match_pytorch_with_per_layer_cache_lengths(
    tiny_gpt2_checkpoint: Path, tmp_path: Path
) -> None:
    model = load_causal_model(tiny_gpt2_checkpoint).model
    profile = profile_for_speedup(model.shape, 2.0, reference_length=48)
    prefill = export_prefill(model, "s2", profile, tmp_path / "s2.onnx")
    decode = export_decode(model, tmp_path / "decode.onnx")
    proto = onnx.load(str(prefill.path))
    assert sum(n.domain == DOMAIN for n in proto.graph.node) == len(prefill.select_layers) == 2
    p_sess, d_sess = ort.InferenceSession(str(prefill.path)), ort.InferenceSession(str(decode.path))
    rng = np.random.default_rng(0)
    lengths = [48, 20, 3]  # other than the export sample (batch 2, length 16)
    batch = left_pad([rng.integers(1, model.config.vocab_size, n).tolist() for n in lengths], 0)
    out = dict(zip(prefill.output_names, p_sess.run(None, batch.feeds())))
    with torch.no_grad():
        ref = model.prefill(
            torch.as_tensor(batch.input_ids), torch.as_tensor(batch.attention_mask), profile.keep_ratios
        )
    assert np.abs(out["logits"] - ref.logits.numpy()).max() < 1e-4
    for layer in range(model.num_layers):
        got = out[present_names(layer)[2]].sum(axis=1).tolist()
        assert got == [keep_counts(profile.keep_ratios, n)[layer] for n in lengths]
    feeds = {"input_ids": np.array([[5], [6], [7]]), "position_ids": np.array(lengths)[:, None]}
    for layer in range(model.num_layers):
        for past, present in zip(past_names(layer), present_names(layer)):
            feeds[past] = out[present]
    step = dict(zip(decode.output_names, d_sess.run(None, feeds)))
    with torch.no_grad():
        logits, _ = model.extend(ref.cache, torch.as_tensor(feeds["input_ids"]), torch.as_tensor(feeds["position_ids"]))
    assert np.abs(step["logits"] - logits[:, -1].numpy()).max() < 1e-4
    assert step[present_names(2)[0]].shape[2] == out[present_names(2)[0]].shape[2] + 1


def test_acc_export_writes_a_validated_causal_bundle(tiny_gpt2_bundle: Path) -> None:
    manifest = read_manifest(tiny_gpt2_bundle)
    data = json.loads((tiny_gpt2_bundle / "manifest.json").read_text())
    assert data["model"]["family"] == CAUSAL_LM and data["model"]["architecture"] == "gpt2"
    assert manifest.profile_names == ["dense", "s1.5", "s2"] and manifest.adjustable is not None
    assert data["decode"]["graph"] in manifest.files
    reports = data["validation"]["reports"]
    assert {r["kind"] for r in reports} == {"prefill", "generate"} and not data["validation"]["failures"]
    assert all(r["cache_length_errors"] == 0 and r["token_agreement"] == 1.0 for r in reports)
    assert len(manifest.tables.latency) == 3 and all(
        row["tokens_per_s"] > 0 for row in data["tables"]["decode_latency"]
    )
    assert (tiny_gpt2_bundle / "tokenizer" / "tokenizer.json").is_file()


def test_acc_export_cli_prints_the_causal_summary(
    tiny_gpt2_checkpoint: Path, sst2_dir: Path, tmp_path: Path, capsys
) -> None:
    from acc.tools.export import main

    code = main(["--model", str(tiny_gpt2_checkpoint), "--speedups", "1", "--output", str(tmp_path / "b"),
                 "--data-dir", str(sst2_dir), "--max-examples", "6", "--validate-grid", "none", "--no-bench",
                 "--no-adjustable", "--quiet", "--threads", "1"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "causal LM" in text and "greedy identical" in text and "dense" in text
    assert main(["--model", str(tiny_gpt2_checkpoint), "--output", str(tmp_path / "b"), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_gpt2_hub_id_offline_fails_in_one_line() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "acc.tools.export", "--model", "openai-community/gpt2", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "hub did not serve it" in lines[0] and "pass a local checkpoint directory" in lines[0]
