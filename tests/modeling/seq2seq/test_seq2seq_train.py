"""The training recipe end to end on a tiny corpus and model: checkpoint, records, accuracy rows, reload."""

from __future__ import annotations

import json
import math

import pytest

from acc.modeling.finetune import FinetuneError
from acc.modeling.seq2seq.train import Seq2SeqTrainOptions, linear_schedule


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory, sst2_dir):
    from acc.modeling._corpus_readers import Document
    from acc.modeling.corpus import EOS_TOKEN, encode_documents, save_token_corpus, train_tokenizer
    from acc.modeling.data import load_sst2

    texts = load_sst2("train", sst2_dir).texts[:4000]
    docs = [Document("sst2", f"d{i}", " ".join(texts[i : i + 100])) for i in range(0, len(texts), 100)]
    tokenizer = train_tokenizer((d.text for d in docs), vocab_size=1100)
    separator = tokenizer.token_to_id(EOS_TOKEN)
    splits = {"train": encode_documents(tokenizer, docs[:36], separator),
              "heldout": encode_documents(tokenizer, docs[36:], separator)}  # fmt: skip
    return save_token_corpus(
        tmp_path_factory.mktemp("corpus") / "c", tokenizer, splits, {"sources": [{"name": "sst2"}]}
    )


def test_recipe_writes_a_loadable_checkpoint_with_its_record(tiny_corpus, sst2_dir, tmp_path) -> None:
    from acc.modeling.checkpoint import SEQ2SEQ, model_family
    from acc.modeling.seq2seq import load_seq2seq
    from acc.modeling.seq2seq.recipe import train_seq2seq

    options = Seq2SeqTrainOptions(
        output_dir=str(tmp_path / "t5"), corpus_dir=str(tiny_corpus), data_dir=str(sst2_dir), size="tiny",
        device="cpu", pretrain_steps=3, pretrain_batch_size=8, pretrain_length=32, finetune_epochs=1, batch_size=16,
        max_train_examples=32, max_eval_examples=12, eval_speedups=(1.5,), eval_batch_size=12,
    )  # fmt: skip
    report = train_seq2seq(options, progress=False)
    assert [(p.name, p.steps) for p in report.phases] == [("pretrain", 3), ("finetune", 2)]
    assert all(math.isfinite(loss) for p in report.phases for loss in p.losses)
    assert {(r["template"], r["profile"]) for r in report.rows} == {
        (t, p) for t in (*options.templates, *options.held_out) for p in ("dense", "s1.5")
    }
    assert [r["held_out"] for r in report.rows].count(True) == 2
    loaded = load_seq2seq(report.output_dir)
    assert model_family(report.output_dir) == SEQ2SEQ
    assert sorted(loaded.prompts["train"]) == sorted(options.templates)
    record = json.loads((report.output_dir / "acc_config.json").read_text())
    assert record["family"] == SEQ2SEQ and len(record["accuracy"]) == 8 and "Not a Google T5" in record["card"]
    assert record["training"]["model_card"]["parameters"] == sum(p.numel() for p in loaded.model.hf.parameters())


def test_schedule_and_option_checks() -> None:
    assert linear_schedule(0.0, 0.1) == pytest.approx(1e-3)
    assert linear_schedule(0.1, 0.1) == pytest.approx(1.0) and linear_schedule(0.55, 0.1) == pytest.approx(0.5)
    assert linear_schedule(1.0, 0.1) == 0.0
    with pytest.raises(FinetuneError, match="both trained and held out"):
        Seq2SeqTrainOptions(output_dir="x", templates=("review-question",), held_out=("review-question",))
    with pytest.raises(FinetuneError, match="size"):
        Seq2SeqTrainOptions(output_dir="x", size="huge")
