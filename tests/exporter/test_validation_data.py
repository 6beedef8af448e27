"""acc-export validates any model: --validation-data FILE, the shipped generic sample, accuracy only with labels.

The user checkpoint here is what a user would bring: a 3-class ``BertForSequenceClassification`` saved with
``save_pretrained`` (no ``acc_config.json``), never trained on SST-2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acc.runtime import Runtime
from acc.tools import export as export_tool

SMALL = ["--speedups", "1.5", "--validate-grid", "none", "--no-bench", "--no-progress", "--threads", "1"]
LABELS = ("negative", "neutral", "positive")


@pytest.fixture(scope="module")
def three_class_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from acc.modeling.checkpoint import _minilm_dir

    torch.manual_seed(1)
    tokenizer = AutoTokenizer.from_pretrained(str(_minilm_dir()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, num_labels=3, id2label=dict(enumerate(LABELS)),
                        label2id={name: i for i, name in enumerate(LABELS)})  # fmt: skip
    directory = tmp_path_factory.mktemp("user") / "nli-3way"
    BertForSequenceClassification(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_a_three_class_user_checkpoint_exports_with_jsonl_text_pairs(
    three_class_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"text": f"a man plays {thing} in the park .", "text_pair": f"someone is {verb} outside .",
             "label": LABELS[i % 3] if i % 2 else i % 3}
            for i, (thing, verb) in enumerate([("guitar", "singing"), ("chess", "sleeping"), ("ball", "running")] * 4)]  # fmt: skip
    data = _jsonl(tmp_path / "val.jsonl", rows)
    bundle = tmp_path / "bundle"
    argv = ["--model", str(three_class_checkpoint), "--output", str(bundle), "--validation-data", str(data), *SMALL]
    assert export_tool.main(argv) == 0
    table = capsys.readouterr().out
    assert "file:val.jsonl acc" in table and "agree vs torch" in table and "SST-2" not in table
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["model"]["labels"] == list(LABELS)
    assert manifest["validation"]["dataset"] == "file:val.jsonl" and manifest["validation"]["labelled"] is True
    accuracy = manifest["tables"]["accuracy"]
    assert [row["dataset"] for row in accuracy] == ["file:val.jsonl"] * 2 and {r["examples"] for r in accuracy} == {12}
    probabilities = Runtime.load(bundle).predict(["a man plays guitar ."]).probabilities
    assert len(probabilities[0]) == 3


def test_without_data_a_user_checkpoint_is_checked_on_the_shipped_sample_and_gets_no_accuracy(
    three_class_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "bundle"
    assert export_tool.main(["--model", str(three_class_checkpoint), "--output", str(bundle), *SMALL]) == 0
    table = capsys.readouterr().out
    assert " acc" not in table.replace("max|Δlogits|", "") and "agree vs torch" in table and "generic-en" in table
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["tables"]["accuracy"] == []
    assert manifest["validation"]["dataset"] == "generic-en" and manifest["validation"]["examples"] == 64
    sample = [r for r in manifest["validation"]["reports"] if r["source"] == "generic-en"]
    assert sample and all(r["onnx_accuracy"] is None and r["label_agreement"] == 1.0 for r in sample)


def test_tsv_and_plain_text_files_and_bad_labels(three_class_checkpoint: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    tsv = tmp_path / "val.tsv"
    tsv.write_text("text\tlabel\ngood film .\tpositive\nfine .\t1\n")
    txt = tmp_path / "val.txt"
    txt.write_text("one text a line .\n\nanother one .\n")
    for data, labelled in ((tsv, True), (txt, False)):
        bundle = tmp_path / data.suffix[1:]
        argv = ["--model", str(three_class_checkpoint), "--output", str(bundle), "--validation-data", str(data)]
        assert export_tool.main(argv + SMALL) == 0
        manifest = json.loads((bundle / "manifest.json").read_text())
        assert manifest["validation"]["labelled"] is labelled and bool(manifest["tables"]["accuracy"]) is labelled
    capsys.readouterr()
    tsv.write_text("text\tlabel\ngood film .\texcellent\n")
    argv = ["--model", str(three_class_checkpoint), "--output", str(tmp_path / "bad"), "--validation-data", str(tsv)]
    assert export_tool.main(argv + SMALL) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert errors == [(f"error: {tsv}:2: label 'excellent' is not one of 0..2 or negative, neutral, positive; "
                      "fix the label or drop the label column")]  # fmt: skip
    assert not (tmp_path / "bad").exists()
