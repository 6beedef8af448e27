"""The corpus pieces (modeling/corpus.py, modeling/_corpus_readers.py) on small inline texts: cleaners, split,
tokenizer, token files. The Debian download itself (``fetch_sources``) needs apt and network and is not run here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from acc.modeling._corpus_readers import Document, _kjv_books, clean_gcide, clean_pod, clean_rst
from acc.modeling.corpus import (
    EOS_TOKEN,
    encode_documents,
    load_token_corpus,
    save_token_corpus,
    split_documents,
    train_tokenizer,
)
from acc.profiles import DataError

KJV = """
Genesis 1

  1 In the beginning God created the heaven and the earth.
  2 And the earth was without form, and void; and darkness was upon the face of
the deep.

Exodus 1

  1 Now these are the names.
"""


def test_kjv_output_becomes_one_document_per_book_without_verse_numbers() -> None:
    books = list(_kjv_books(KJV))
    assert [b.name for b in books] == ["Genesis", "Exodus"]
    assert books[0].text == ("In the beginning God created the heaven and the earth. And the earth was without form, "
                             "and void; and darkness was upon the face of the deep.")  # fmt: skip


def test_rst_roles_labels_and_rules_are_stripped() -> None:
    text = ".. _tut-if:\n\n:keyword:`!if` Statements\n=====\n\n.. index::\n   statement: if\n\nUse :func:`len` here.\n"
    assert clean_rst(text) == "if Statements\n\nUse len here."


def test_pod_commands_and_codes_are_stripped() -> None:
    text = "=head1 NAME\n\nperlintro - a B<brief> intro to C<< $x >> and L<perlfunc|perlfunc>\n\n=cut\n"
    assert clean_pod(text) == "NAME\n\nperlintro - a brief intro to $x and perlfunc"


def test_gcide_source_tags_and_pronunciations_go() -> None:
    text = "Barm \\Barm\\, n. [OE. berme.]\n   Foam rising upon {beer}.\n   [1913 Webster]\n"
    assert clean_gcide(text) == "Barm , n. [OE. berme.]\nFoam rising upon beer."


def test_split_is_stratified_and_order_independent() -> None:
    docs = [Document(s, f"{s}-{i}", "x") for s in ("a", "b") for i in range(50)]
    train, held = split_documents(docs, 0.1)
    assert sorted(d.source for d in held) == ["a"] * 5 + ["b"] * 5
    _, held2 = split_documents(list(reversed(docs)), 0.1)
    assert {d.name for d in held} == {d.name for d in held2}
    assert len(train) + len(held) == 100
    with pytest.raises(DataError):
        split_documents(docs, 1.5)


def test_tokenizer_ids_round_trip_through_the_saved_corpus(tmp_path: Path) -> None:
    docs = [Document("t", str(i), f"The quick brown fox {i} jumps over the lazy dog.") for i in range(40)]
    tokenizer = train_tokenizer((d.text for d in docs), vocab_size=300, special_tokens=(EOS_TOKEN,))
    eos = tokenizer.token_to_id(EOS_TOKEN)
    ids = encode_documents(tokenizer, docs, eos)
    assert ids.dtype == np.uint16 and (ids == eos).sum() == 40
    assert tokenizer.decode(ids[: int(np.argmax(ids == eos))].tolist()) == docs[0].text
    out = save_token_corpus(tmp_path / "c", tokenizer, {"train": ids, "heldout": ids[:10]}, {"note": "test"})
    corpus = load_token_corpus(out)
    assert np.array_equal(corpus["train"], ids) and corpus.meta["note"] == "test"
    assert corpus.tokenizer_path.is_file()
    (out / "heldout.u16.xz").write_bytes((out / "train.u16.xz").read_bytes())  # a corrupted copy
    with pytest.raises(DataError, match="sha256"):
        load_token_corpus(out, ["heldout"])
    with pytest.raises(DataError, match="no split"):
        load_token_corpus(out, ["dev"])
