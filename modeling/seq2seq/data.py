"""Text-to-text batches: SST-2 under instruction templates, and T5 span corruption of plain text.

Both produce the same record (``TextBatch``): encoder ids and mask, and target ids with −100 on padding, so one
training step serves pre-training and instruction fine-tuning.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from acc.profiles import DataError

from .prompts import LABEL_WORDS, PromptTemplate

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from acc.modeling.data import Split

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TextBatch:
    """Encoder inputs and targets of one padded batch. ``answers``: SST-2 label per row (−1 for pre-training)."""

    input_ids: torch.Tensor  # [B, N] int64
    attention_mask: torch.Tensor  # [B, N] int64
    labels: torch.Tensor  # [B, T] int64 target ids, −100 on padding
    answers: torch.Tensor  # [B] int64
    indices: list[int]

    def to(self, device: torch.device | str) -> TextBatch:
        return TextBatch(
            self.input_ids.to(device, non_blocking=True),
            self.attention_mask.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            self.answers.to(device, non_blocking=True),
            self.indices,
        )


def label_token_ids(tokenizer: PreTrainedTokenizerBase, words: Sequence[str] = LABEL_WORDS) -> list[list[int]]:
    """Target ids of each label word (ending with ``</s>``); the words must tokenise differently."""
    ids = [list(tokenizer(word, add_special_tokens=True)["input_ids"]) for word in words]
    if len({tuple(i) for i in ids}) != len(ids):
        raise DataError(f"label words {list(words)} tokenise to the same ids; pick distinct label words")
    return ids


def pad_rows(rows: Sequence[Sequence[int]], pad: int) -> np.ndarray:
    """Right-pad int rows to the longest; int64 ``[len(rows), longest]``."""
    longest = max(len(row) for row in rows)
    out = np.full((len(rows), longest), pad, dtype=np.int64)
    for index, row in enumerate(rows):
        out[index, : len(row)] = row
    return out


def instruction_batches(
    split: Split,
    tokenizer: PreTrainedTokenizerBase,
    templates: Sequence[PromptTemplate],
    batch_size: int,
    max_length: int,
    shuffle: bool = False,
    seed: int = 0,
) -> Iterator[TextBatch]:
    """SST-2 examples as prompts; with several templates each example gets one drawn with ``seed`` (per epoch).

    Evaluation passes one template and ``shuffle=False``, so every example is seen once under that template.
    """
    import torch

    if not templates:
        raise DataError("no prompt templates given; pass at least one")
    targets = label_token_ids(tokenizer)
    rng = random.Random(seed)
    order = list(range(len(split)))
    if shuffle:
        rng.shuffle(order)
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        prompts = [rng.choice(templates).format(split.texts[i]) for i in indices]
        encoded = tokenizer(prompts, padding="longest", truncation=True, max_length=max_length, return_tensors="pt")
        answers = [split.labels[i] for i in indices]
        labels = pad_rows([targets[a] for a in answers], IGNORE_INDEX)
        yield TextBatch(
            encoded["input_ids"],
            encoded["attention_mask"],
            torch.from_numpy(labels),
            torch.tensor(answers, dtype=torch.long),
            indices,
        )


# ----------------------------------------------------------------------------------------------- span corruption


def random_segmentation(num_items: int, num_segments: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Per row, ``num_items`` split into ``num_segments`` positive lengths uniformly at random; ``[rows, segments]``."""
    if num_segments <= 1:
        return np.full((rows, 1), num_items)
    cuts = np.argsort(rng.random((rows, num_items - 1)), axis=1)[:, : num_segments - 1] + 1
    edges = np.concatenate([np.zeros((rows, 1), int), np.sort(cuts, axis=1), np.full((rows, 1), num_items)], axis=1)
    return np.diff(edges, axis=1)


def span_corrupt(
    windows: np.ndarray,
    sentinels: Sequence[int],
    eos: int,
    rng: np.random.Generator,
    noise_density: float = 0.15,
    mean_span: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """T5 span corruption of token rows ``[B, L]``: (inputs with one sentinel per dropped span, targets = each
    sentinel followed by its span), both ending with ``</s>``.

    As in the T5 paper: ``round(L · density)`` noise tokens in ``round(noise / mean_span)`` spans, the spans and the
    text between them of random length. Every row has the same counts, so the batch is built without a Python loop
    over rows (the GPU would otherwise wait for the CPU)::

        tokens   a b c d e f g h          noise spans [c d] and [g]
        inputs   a b <x0> e f <x1> h </s>
        targets  <x0> c d <x1> g </s>
    """
    rows, length = windows.shape
    num_noise = min(max(round(length * noise_density), 1), length - 1)
    num_spans = min(max(round(num_noise / mean_span), 1), num_noise, length - num_noise, len(sentinels))
    noise = random_segmentation(num_noise, num_spans, rows, rng)
    keep = random_segmentation(length - num_noise, num_spans, rows, rng)
    # Segment boundaries keep_0 | noise_0 | keep_1 | noise_1 ...; a position's segment = boundaries passed.
    bounds = np.cumsum(np.stack([keep, noise], axis=2).reshape(rows, -1), axis=1)
    segment = (bounds[:, :, None] <= np.arange(length)[None, None, :]).sum(axis=1)
    is_noise = segment % 2 == 1
    span = segment // 2
    first = is_noise & np.concatenate([np.ones((rows, 1), bool), ~is_noise[:, :-1]], axis=1)
    sentinel = np.asarray(sentinels, dtype=np.int64)[np.minimum(span, len(sentinels) - 1)]
    tokens = windows.astype(np.int64)

    def pick(second: np.ndarray, width: int) -> np.ndarray:
        # Two slots per position: the sentinel opening a span, then the token itself; keep the chosen slots.
        values = np.stack([sentinel, tokens], axis=2).reshape(rows, -1)
        chosen = np.stack([first, second], axis=2).reshape(rows, -1)
        picked = values[chosen].reshape(rows, width)
        return np.concatenate([picked, np.full((rows, 1), eos, dtype=np.int64)], axis=1)

    return pick(~is_noise, length - num_noise + num_spans), pick(is_noise, num_noise + num_spans)


def span_corruption_batch(
    stream: np.ndarray,
    batch_size: int,
    length: int,
    sentinels: Sequence[int],
    eos: int,
    rng: np.random.Generator,
) -> TextBatch:
    """``batch_size`` random windows of ``length`` tokens from a token stream, span-corrupted (no padding: every
    row has the same length)."""
    import torch

    if len(stream) <= length:
        raise DataError(f"corpus has {len(stream)} tokens, fewer than one window of {length}; use more text")
    starts = rng.integers(0, len(stream) - length, size=batch_size)
    windows = np.asarray(stream)[starts[:, None] + np.arange(length)[None, :]]
    inputs, targets = span_corrupt(windows, sentinels, eos, rng)
    return TextBatch(
        torch.from_numpy(inputs),
        torch.ones(inputs.shape, dtype=torch.long),
        torch.from_numpy(targets),
        torch.full((batch_size,), -1, dtype=torch.long),
        [int(s) for s in starts],
    )
