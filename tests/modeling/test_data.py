"""SST-2 loading: the shipped files, the override order, and one-line errors naming the paths tried."""

from __future__ import annotations

from pathlib import Path

import pytest

from acc.modeling.data import DATA_DIR_ENV, default_data_dir, iter_batches, load_sst2
from acc.profiles import DataError


def test_shipped_dev_split_has_872_labelled_sentences(sst2_dir: Path) -> None:
    dev = load_sst2("dev", sst2_dir)
    assert len(dev) == 872
    assert sum(dev.labels) == 444  # positives, as documented for GLUE SST-2 validation
    assert all(text.strip() for text in dev.texts)


def test_env_variable_is_used_and_argument_wins(
    tmp_path: Path, sst2_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dev.tsv").write_text("label\tcontent\n1\tgood .\n0\tbad .\n")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path
    assert load_sst2("dev").texts == ["good .", "bad ."]
    assert len(load_sst2("dev", sst2_dir)) == 872


def test_missing_folder_names_the_path_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        load_sst2("dev", missing)
    message = str(info.value)
    assert str(missing / "dev.tsv") in message and "--data-dir" in message and "\n" not in message


def test_unknown_split_and_malformed_rows_are_clear(tmp_path: Path) -> None:
    (tmp_path / "dev.tsv").write_text("label\tcontent\n7\toops\n")
    with pytest.raises(DataError, match="test.tsv"):
        load_sst2("test", tmp_path)
    with pytest.raises(DataError, match=r"dev.tsv:2"):
        load_sst2("dev", tmp_path)


def test_batches_pad_to_the_longest_text_in_each_batch(tiny_checkpoint: Path, sst2_dir: Path) -> None:
    from acc.modeling.checkpoint import load_model

    tokenizer = load_model(tiny_checkpoint).tokenizer
    split = load_sst2("dev", sst2_dir).head(10)
    batches = list(iter_batches(split, tokenizer, batch_size=4, max_length=16))
    assert [len(b.indices) for b in batches] == [4, 4, 2]
    for batch in batches:
        lengths = batch.attention_mask.sum(1)
        assert batch.input_ids.shape[1] == int(lengths.max()) <= 16


def test_sst2_ships_inside_the_package_and_is_found_without_any_folder_beside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No ACC_DATA_DIR, no --data-dir: both splits come from the package data, never from a path beside the clone."""
    from acc.modeling.data import shipped_sst2_dir

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert default_data_dir() == shipped_sst2_dir()
    assert shipped_sst2_dir().is_relative_to(Path(__import__("acc.modeling").modeling.__file__).parent)
    train, dev = load_sst2("train"), load_sst2("dev")
    assert (len(train), len(dev)) == (67_349, 872)
    assert train.texts[0] == "hide new secretions from the parental units" and train.labels[0] == 0
    assert set(train.labels) == {0, 1}


def test_gzip_copies_in_a_data_dir_are_read_like_plain_tsv(tmp_path: Path) -> None:
    import gzip

    with gzip.open(tmp_path / "dev.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.write("label\tsentence\n1\tfine .\n")
    assert load_sst2("dev", tmp_path).texts == ["fine ."]
