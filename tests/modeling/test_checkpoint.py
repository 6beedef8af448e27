"""Checkpoints: aliases, the shipped bert-sst2, offline hub ids, acc_config.json, fp16 round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from acc.modeling.checkpoint import ACC_CONFIG_NAME, AccConfig, load_model, resolve_model_dir, save_checkpoint
from acc.profiles import ModelError


def test_shipped_bert_sst2_is_a_six_layer_acc_checkpoint_with_its_accuracy_table() -> None:
    directory = resolve_model_dir("bert-sst2")
    config = AccConfig.load(directory)
    assert [row["profile"] for row in config.accuracy] == ["dense", "s1.5", "s3", "s4.8"]
    dense = config.accuracy[0]["accuracy"]
    assert dense >= 0.88 and config.accuracy[1]["accuracy"] >= dense - 0.0075
    loaded = load_model("bert-sst2")
    assert loaded.model.num_layers == 6 and loaded.model.config.hidden_size == 384
    assert next(loaded.model.parameters()).dtype == torch.float32  # stored fp16, run fp32


def test_hub_ids_fail_offline_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        load_model("someone/not-a-local-model")
    message = str(info.value)
    assert "not-a-local-model" in message and "local checkpoint directory" in message and "\n" not in message


def test_directory_without_config_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="config.json"):
        resolve_model_dir(tmp_path)


def test_newer_acc_config_version_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    data = json.loads((tiny_checkpoint / ACC_CONFIG_NAME).read_text())
    data["version"] = 99
    (tmp_path / ACC_CONFIG_NAME).write_text(json.dumps(data))
    with pytest.raises(ModelError, match="upgrade acc-deploy"):
        AccConfig.load(tmp_path)


def test_fp16_save_round_trips_within_fp16_precision(tiny_checkpoint: Path, tmp_path: Path) -> None:
    loaded = load_model(tiny_checkpoint)
    saved = save_checkpoint(loaded, tmp_path / "half", fp16=True)
    assert not list(tmp_path.glob(".half.*")), "the temp dir must be renamed into place"
    again = load_model(saved)
    ids = torch.randint(1000, 2000, (2, 9))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        a = loaded.model(ids, mask).logits
        b = again.model(ids, mask).logits
    torch.testing.assert_close(a, b, atol=2e-3, rtol=0)
    assert next(loaded.model.parameters()).dtype == torch.float32  # saving fp16 must not change the live model
