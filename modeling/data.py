"""SST-2 loading and batching: TSV → (texts, labels) → tokenised batches with dynamic padding.

The data folder is found by argument, then ``ACC_DATA_DIR``, then ``../shared/data/sst2`` from the project root
and the working directory; a missing file gives one line naming every path tried.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from acc.profiles import DataError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

DATA_DIR_ENV = "ACC_DATA_DIR"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Split:
    """One labelled split: parallel lists of texts and integer labels."""

    name: str
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int | None) -> Split:
        """The first ``n`` examples (all when ``n`` is None): small runs for tests and smoke checks."""
        return self if n is None else Split(self.name, self.texts[:n], self.labels[:n])


def _candidate_dirs(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir)]
    if os.environ.get(DATA_DIR_ENV):
        return [Path(os.environ[DATA_DIR_ENV])]
    return [_PROJECT_ROOT.parent / "shared" / "data" / "sst2", Path.cwd().parent / "shared" / "data" / "sst2"]


def default_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The first candidate folder holding SST-2's dev.tsv."""
    candidates = _candidate_dirs(data_dir)
    for candidate in candidates:
        if (candidate / "dev.tsv").is_file():
            return candidate
    tried = ", ".join(str(c / "dev.tsv") for c in candidates)
    raise DataError(f"SST-2 not found (tried {tried}); pass --data-dir DIR or set {DATA_DIR_ENV}")


def load_sst2(split: str = "dev", data_dir: str | os.PathLike[str] | None = None) -> Split:
    """Read ``{split}.tsv`` (header, then ``label<TAB>text``) from the SST-2 folder."""
    path = default_data_dir(data_dir) / f"{split}.tsv"
    if not path.is_file():
        raise DataError(f"SST-2 split {split!r} not found at {path}; use train or dev, or pass --data-dir DIR")
    texts: list[str] = []
    labels: list[int] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader, None)
        for line_no, row in enumerate(reader, start=2):
            if len(row) < 2 or row[0] not in ("0", "1"):
                raise DataError(f"{path}:{line_no}: expected 'label<TAB>text' with label 0 or 1, got {row[:2]!r}")
            labels.append(int(row[0]))
            texts.append(row[1])
    return Split(split, texts, labels)


@dataclass(frozen=True)
class Batch:
    """Model inputs of one padded batch, plus the labels and the indices of its examples in the split."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    labels: torch.Tensor
    indices: list[int]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.token_type_ids.to(device),
            self.labels.to(device),
            self.indices,
        )


def tokenize(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> dict[str, torch.Tensor]:
    """Tokenise with dynamic padding (to the longest text in the batch, at most ``max_length``)."""
    return tokenizer(
        list(texts), padding="longest", truncation=True, max_length=max_length, return_tensors="pt"
    )


def iter_batches(
    split: Split,
    tokenizer: PreTrainedTokenizerBase,
    batch_size: int,
    max_length: int,
    shuffle: bool = False,
    seed: int = 0,
) -> Iterator[Batch]:
    """Batches in order (or shuffled with ``seed``); the last batch may be smaller."""
    import torch

    order = list(range(len(split)))
    if shuffle:
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(split), generator=generator).tolist()
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        encoded = tokenize(tokenizer, [split.texts[i] for i in indices], max_length)
        token_type_ids = encoded.get("token_type_ids")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(encoded["input_ids"])
        yield Batch(
            encoded["input_ids"],
            encoded["attention_mask"],
            token_type_ids,
            torch.tensor([split.labels[i] for i in indices], dtype=torch.long),
            indices,
        )
