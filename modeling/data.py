"""SST-2 loading and batching: TSV → (texts, labels) → tokenised batches with dynamic padding.

SST-2 ships inside the package (``acc.modeling.datasets``, gzip). ``--data-dir`` / ``ACC_DATA_DIR`` point at
another copy (``train.tsv``/``dev.tsv``, plain or ``.gz``); a missing file gives one line naming the path tried.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from acc.profiles import DataError

from .checkpoint import SST2_LABELS
from .example_files import Examples, LabelScheme, read_examples

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

DATA_DIR_ENV = "ACC_DATA_DIR"
SST2_SPLITS = ("train", "dev")

Split = Examples  # one labelled (or unlabelled) split: texts, optional text pairs and labels


def shipped_sst2_dir() -> Path:
    """The SST-2 copy inside the installed package (``acc/modeling/datasets/sst2``)."""
    return Path(str(resources.files("acc.modeling.datasets") / "sst2"))


def default_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The SST-2 folder: the argument, else ``ACC_DATA_DIR``, else the copy shipped in the package."""
    if data_dir is not None:
        candidate = Path(data_dir)
    elif os.environ.get(DATA_DIR_ENV):
        candidate = Path(os.environ[DATA_DIR_ENV])
    else:
        candidate = shipped_sst2_dir()
    if _split_file(candidate, "dev") is None:
        raise DataError(f"SST-2 not found (tried {candidate / 'dev.tsv'}); pass --data-dir DIR or set {DATA_DIR_ENV}")
    return candidate


def _split_file(directory: Path, split: str) -> Path | None:
    for name in (f"{split}.tsv", f"{split}.tsv.gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def load_sst2(split: str = "dev", data_dir: str | os.PathLike[str] | None = None) -> Split:
    """Read ``{split}.tsv`` (header, then ``label<TAB>text``) from the SST-2 folder."""
    directory = default_data_dir(data_dir)
    path = _split_file(directory, split)
    if path is None:
        raise DataError(f"SST-2 split {split!r} not found at {directory / f'{split}.tsv'}; use "
                        f"{' or '.join(SST2_SPLITS)}, or pass --data-dir DIR")  # fmt: skip
    return read_examples(path, LabelScheme(SST2_LABELS), name=split)


@dataclass(frozen=True)
class Batch:
    """Model inputs of one padded batch, plus the labels and the indices of its examples in the split."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor
    labels: torch.Tensor | None  # None for unlabelled data; float for a regression head
    indices: list[int]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.token_type_ids.to(device),
            None if self.labels is None else self.labels.to(device),
            self.indices,
        )


def tokenize(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int, text_pairs: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """Tokenise with dynamic padding (to the longest text in the batch, at most ``max_length``); pairs as BERT's
    ``[CLS] a [SEP] b [SEP]`` with token types 0 / 1."""
    return tokenizer(
        list(texts),
        None if text_pairs is None else list(text_pairs),
        padding="longest",
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
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
        pairs = None if split.text_pairs is None else [split.text_pairs[i] for i in indices]
        encoded = tokenize(tokenizer, [split.texts[i] for i in indices], max_length, pairs)
        token_type_ids = encoded.get("token_type_ids")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(encoded["input_ids"])
        yield Batch(
            encoded["input_ids"],
            encoded["attention_mask"],
            token_type_ids,
            _label_tensor(split.labels, indices),
            indices,
        )


def _label_tensor(labels: list[int] | list[float] | None, indices: list[int]) -> torch.Tensor | None:
    """Class indices as int64, regression targets as float32; None for unlabelled data."""
    import torch

    if labels is None:
        return None
    chosen = [labels[i] for i in indices]
    return torch.tensor(chosen, dtype=torch.float32 if any(isinstance(v, float) for v in chosen) else torch.long)
