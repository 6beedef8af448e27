"""Seq2seq data: span corruption is invertible with T5's counts, instruction batches, templates, the T5 tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from acc.modeling.seq2seq.data import IGNORE_INDEX, instruction_batches, label_token_ids, span_corrupt
from acc.modeling.seq2seq.prompts import HELD_OUT_TEMPLATES, TRAIN_TEMPLATES, PromptTemplate, templates_by_name
from acc.profiles import DataError

SENTINELS = list(range(900, 932))
EOS = 1


@pytest.mark.parametrize("length", [8, 16, 64, 128])
def test_span_corruption_round_trips_and_has_t5_counts(length: int) -> None:
    rng = np.random.default_rng(length)
    windows = rng.integers(10, 800, size=(16, length))
    inputs, targets = span_corrupt(windows, SENTINELS, EOS, rng)
    num_noise = min(max(round(length * 0.15), 1), length - 1)
    assert inputs[:, -1].tolist() == [EOS] * 16 and targets[:, -1].tolist() == [EOS] * 16
    for row in range(16):
        spans: dict[int, list[int]] = {}
        current = None
        for token in targets[row, :-1].tolist():
            if token in SENTINELS:
                current = token
                spans[current] = []
            else:
                spans[current].append(token)
        rebuilt = [t for token in inputs[row, :-1].tolist() for t in (spans[token] if token in SENTINELS else [token])]
        assert rebuilt == windows[row].tolist()
        assert sum(len(span) for span in spans.values()) == num_noise
        assert list(spans) == SENTINELS[: len(spans)] and all(spans.values())
    assert len({tuple(row) for row in inputs.tolist()}) > 1, "rows must be corrupted independently"


def test_instruction_batches_use_the_template_and_label_words(tiny_t5_checkpoint, sst2_dir) -> None:
    from transformers import AutoTokenizer

    from acc.modeling.data import load_sst2

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_t5_checkpoint))
    split = load_sst2("dev", sst2_dir).head(10)
    template = HELD_OUT_TEMPLATES[0]
    batch = next(instruction_batches(split, tokenizer, [template], 10, 128))
    answers = label_token_ids(tokenizer)
    assert batch.answers.tolist() == split.labels
    for row, label in enumerate(split.labels):
        target = [t for t in batch.labels[row].tolist() if t != IGNORE_INDEX]
        assert target == answers[label] and target[-1] == tokenizer.eos_token_id
        valid = batch.input_ids[row][batch.attention_mask[row] > 0].tolist()
        assert tokenizer.decode(valid, skip_special_tokens=True) == template.format(split.texts[row])
    shuffled = [b.indices for b in instruction_batches(split, tokenizer, TRAIN_TEMPLATES, 4, 64, shuffle=True, seed=3)]
    again = [b.indices for b in instruction_batches(split, tokenizer, TRAIN_TEMPLATES, 4, 64, shuffle=True, seed=3)]
    assert shuffled == again and sorted(i for b in shuffled for i in b) == list(range(10))


def test_t5_tokenizer_keeps_corpus_ids_and_adds_t5_tokens(tiny_t5_checkpoint) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    from acc.modeling.seq2seq.tokenizer import EOS_TOKEN, sentinel_ids

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_t5_checkpoint))
    base = Tokenizer.from_file(str(tiny_t5_checkpoint / "tokenizer.json"))
    text = "an utterly charming , witty movie ."
    ids = tokenizer(text)["input_ids"]
    assert ids[:-1] == base.encode(text, add_special_tokens=False).ids and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.eos_token == EOS_TOKEN and tokenizer.pad_token_id not in ids
    assert len(set(sentinel_ids(tokenizer))) == 32


def test_templates_need_one_placeholder_and_known_names() -> None:
    with pytest.raises(DataError, match="exactly once"):
        PromptTemplate("bad", "no placeholder here")
    with pytest.raises(DataError, match="unknown prompt template"):
        templates_by_name(["review-question", "nope"])
    assert len(TRAIN_TEMPLATES) >= 3 and not {t.name for t in TRAIN_TEMPLATES} & {t.name for t in HELD_OUT_TEMPLATES}
