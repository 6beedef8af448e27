"""acc-finetune on a user's files (shared reader with acc-export --validation-data), --overwrite, the recipe defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from acc.modeling.checkpoint import load_model
from acc.modeling.finetune import FinetuneError, FinetuneOptions, finetune
from acc.tools import finetune as finetune_tool

ROOT = Path(__file__).resolve().parents[2]
FEW = {"epochs": 1, "batch_size": 8, "max_length": 32, "eval_speedups": (1.5,), "device": "cpu"}


@pytest.fixture(scope="module")
def base_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pre-trained-style BERT (no classifier head), as a user's base model: the head is sized by the data."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from acc.modeling.checkpoint import _minilm_dir

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(_minilm_dir()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64)  # fmt: skip
    directory = tmp_path_factory.mktemp("base") / "tiny-base"
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _pairs(n: int) -> list[dict]:
    subjects = ["a dog", "the man", "two kids", "a woman", "an old car", "the band"]
    return [{"text": f"{subjects[i % 6]} is in the park .", "text_pair": f"{subjects[(i * 5) % 6]} is outside .",
             "label": ["entailment", "neutral", "contradiction"][i % 3]} for i in range(n)]  # fmt: skip


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_text_pair_classification_from_jsonl(base_bert: Path, tmp_path: Path) -> None:
    train = _write_jsonl(tmp_path / "train.jsonl", _pairs(24))
    evaluation = _write_jsonl(tmp_path / "dev.jsonl", _pairs(9))
    options = FinetuneOptions(model=str(base_bert), output_dir=str(tmp_path / "out"), train_file=str(train),
                              eval_file=str(evaluation), **FEW)  # fmt: skip
    result = finetune(options, progress=False)
    assert result.steps == 3
    loaded = load_model(result.output_dir)
    assert loaded.acc_config.labels == ("contradiction", "entailment", "neutral")
    assert loaded.model.config.num_labels == 3 and loaded.acc_config.eval_data is None
    assert loaded.acc_config.training["data"] == "file:train.jsonl"
    assert [(r["dataset"], r["examples"]) for r in loaded.acc_config.accuracy] == [("dev.jsonl", 9)] * 2
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in loaded.acc_config.accuracy)


def test_regression_head_from_tsv_trains_with_mse(base_bert: Path, tmp_path: Path) -> None:
    rows = [(f"{word} film .", score) for word, score in
            [("awful", 0.5), ("dull", 1.25), ("fine", 2.5), ("good", 3.75), ("great", 4.5), ("superb", 4.75)] * 4]  # fmt: skip
    train = tmp_path / "train.tsv"
    train.write_text("text\tlabel\n" + "".join(f"{text}\t{score}\n" for text, score in rows))
    evaluation = tmp_path / "dev.tsv"
    evaluation.write_text("label\ttext\n1.0\tdull film .\n4.5\tgreat film .\n")
    options = FinetuneOptions(model=str(base_bert), output_dir=str(tmp_path / "out"), train_file=str(train),
                              eval_file=str(evaluation), **{**FEW, "epochs": 4, "lr": 1e-3})  # fmt: skip
    result = finetune(options, progress=False)
    assert result.epoch_losses[-1] < result.epoch_losses[0]
    loaded = load_model(result.output_dir)
    assert loaded.model.config.num_labels == 1 and loaded.acc_config.labels == ("score",)
    rows_saved = loaded.acc_config.accuracy
    assert all(r["accuracy"] is None and r["mse"] >= 0.0 for r in rows_saved) and len(rows_saved) == 2


def test_existing_output_dir_needs_overwrite(tiny_checkpoint: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = ["--model", str(tiny_checkpoint), "-o", str(out), "--quiet"]
    assert finetune_tool.main(argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert errors == [(f"error: output directory {out} already exists; pass --overwrite to replace it or choose "
                       "another --output directory")]  # fmt: skip
    assert (out / "keep.txt").read_text() == "mine"
    options = FinetuneOptions(model=str(tiny_checkpoint), output_dir=str(out), overwrite=True, max_train_examples=8,
                              max_eval_examples=8, **FEW)  # fmt: skip
    assert finetune(options, progress=False).output_dir == out and not (out / "keep.txt").exists()


def test_defaults_are_the_shipped_recipe() -> None:
    recipe = (ROOT / "benchmarks" / "device" / "finetune_bert_sst2.sh").read_text()
    chosen = dict(re.findall(r"--([a-z-]+) (\S+)", re.search(r"train b64-lr1e-4 (.*)", recipe).group(1)))
    common = dict(re.findall(r"--([a-z-]+) (\S+)", re.search(r"common=\((.*)\)", recipe).group(1)))
    defaults = FinetuneOptions(output_dir="x")
    assert (int(chosen["batch-size"]), float(chosen["lr"]), int(chosen["epochs"]), int(common["max-length"])) == (
        defaults.batch_size,
        defaults.lr,
        defaults.epochs,
        defaults.max_length,
    )
    assert (defaults.batch_size, defaults.lr, defaults.epochs, defaults.max_length) == (64, 1e-4, 3, 64)


def test_train_file_without_eval_file_or_labels_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(FinetuneError, match="--train-file and --eval-file go together"):
        FinetuneOptions(output_dir="x", train_file="t.jsonl")
    from acc.modeling.training_data import load_training_data
    from acc.profiles import DataError

    unlabelled = _write_jsonl(tmp_path / "t.jsonl", [{"text": "no label here ."}])
    with pytest.raises(DataError, match=r"t.jsonl has no labels; add a label column"):
        load_training_data(unlabelled, unlabelled)
