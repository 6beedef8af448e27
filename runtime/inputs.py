"""Request inputs → padded int64 feeds: texts through the bundle's tokenizer, or token-id lists as given.

The tokenizer is read from ``tokenizer/tokenizer.json`` with the ``tokenizers`` library, not transformers'
``AutoTokenizer``: that one imports torch (seconds, and a dependency a deployment should not need), while the
fast tokenizer's JSON already holds the normaliser, vocabulary and the [CLS]/[SEP] template. Padding is ours
(dynamic: to the longest sample of the request), so the JSON's saved padding/truncation settings are switched off.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acc.profiles import BundleError, DataError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from .bundle_format import Manifest

TOKENIZER_FILE = "tokenizer.json"
# One text, several texts, or several token-id lists (each starting with [CLS] as the tokenizer writes them).
Inputs = str | Sequence[str] | Sequence[Sequence[int]] | np.ndarray


@dataclass(frozen=True, eq=False)
class Batch:
    """Padded model inputs, all int64 ``[batch, seq]``; ``attention_mask`` is 1 on real tokens."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray

    @property
    def size(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.input_ids.shape[1])

    def feeds(self) -> dict[str, np.ndarray]:
        return {
            "input_ids": self.input_ids,
            "attention_mask": self.attention_mask,
            "token_type_ids": self.token_type_ids,
        }


def pad_batch(ids: Sequence[Sequence[int]], type_ids: Sequence[Sequence[int]] | None, pad_id: int) -> Batch:
    """Right-pad to the longest sample; ``type_ids=None`` gives zeros (segment A), as BERT expects for one text."""
    longest = max(len(sample) for sample in ids)
    input_ids = np.full((len(ids), longest), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(ids), longest), dtype=np.int64)
    token_type_ids = np.zeros((len(ids), longest), dtype=np.int64)
    for row, sample in enumerate(ids):
        input_ids[row, : len(sample)] = sample
        attention_mask[row, : len(sample)] = 1
        if type_ids is not None:
            token_type_ids[row, : len(sample)] = type_ids[row]
    return Batch(input_ids, attention_mask, token_type_ids)


class TextEncoder:
    """The bundle's tokenizer plus the model's ``max_length``. Thread-safe: the tokenizers are never reconfigured."""

    def __init__(self, tokenizer_dir: str | Path, max_length: int, tokenizer_json: bytes | None = None) -> None:
        """``tokenizer_json``: the verified bytes of ``tokenizer_dir/tokenizer.json`` (read from disk when None)."""
        from tokenizers import Tokenizer

        path = Path(tokenizer_dir) / TOKENIZER_FILE
        try:
            text = path.read_text(encoding="utf-8") if tokenizer_json is None else tokenizer_json.decode("utf-8")
            self._plain = Tokenizer.from_str(text)
            self._truncating = Tokenizer.from_str(text)
        except Exception as exc:  # OSError, or the plain Exception tokenizers raises for a malformed file
            raise BundleError(
                f"cannot load tokenizer {path} ({exc}); the bundle needs a fast tokenizer saved with "
                "save_pretrained, re-export the bundle"
            ) from exc
        self.max_length = int(max_length)
        self._plain.no_padding()
        self._plain.no_truncation()
        self._truncating.no_padding()
        self._truncating.enable_truncation(self.max_length)
        self.vocab_size = self._plain.get_vocab_size(with_added_tokens=True)
        self.pad_id = _pad_id(json.loads(text), self._plain)
        sep = self._plain.token_to_id("[SEP]")
        self.sep_id = sep if sep is not None else self._plain.token_to_id("</s>")  # RoBERTa / MPNet

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> TextEncoder:
        """The bundle's tokenizer from its verified bytes (listed, size and sha256 checked on what is parsed)."""
        relative = f"{manifest.tokenizer}/{TOKENIZER_FILE}"
        return cls(manifest.path(manifest.tokenizer), manifest.model.max_length, manifest.read_file(relative))

    def encode(self, inputs: Inputs, truncate: bool = True) -> Batch:
        """Texts or token-id lists → one padded batch.

        Longer than ``max_length``: cut to it when ``truncate`` (texts keep their final [SEP]; id lists keep their
        last id when it is [SEP]), else ``DataError``. Empty input, an empty text or an empty id list → ``DataError``.
        """
        samples = _as_samples(inputs)
        if isinstance(samples[0], str):
            return self._encode_texts(samples, truncate)  # type: ignore[arg-type]
        return self._encode_ids(samples, truncate)  # type: ignore[arg-type]

    def _encode_texts(self, texts: list[str], truncate: bool) -> Batch:
        tokenizer = self._truncating if truncate else self._plain
        encodings = tokenizer.encode_batch(texts)
        if not truncate:
            for index, encoding in enumerate(encodings):
                if len(encoding.ids) > self.max_length:
                    raise DataError(
                        f"text {index} has {len(encoding.ids)} tokens, more than the model's max_length "
                        f"{self.max_length}; shorten it or pass truncate=True"
                    )
        return pad_batch([e.ids for e in encodings], [e.type_ids for e in encodings], self.pad_id)

    def _encode_ids(self, samples: list[list[int]], truncate: bool) -> Batch:
        cut: list[list[int]] = []
        for index, ids in enumerate(samples):
            bad = [i for i in ids if not 0 <= i < self.vocab_size]
            if bad:
                raise DataError(
                    f"token-id list {index} has ids {bad[:5]} outside the vocabulary [0, {self.vocab_size}); "
                    "pass ids from this bundle's tokenizer"
                )
            if len(ids) > self.max_length:
                if not truncate:
                    raise DataError(
                        f"token-id list {index} has {len(ids)} ids, more than the model's max_length "
                        f"{self.max_length}; shorten it or pass truncate=True"
                    )
                ids = ids[: self.max_length - 1] + ids[-1:] if ids[-1] == self.sep_id else ids[: self.max_length]
            cut.append(ids)
        return pad_batch(cut, None, self.pad_id)


def _pad_id(config: dict[str, Any], tokenizer: Tokenizer) -> int:
    padding = config.get("padding") or {}
    if isinstance(padding.get("pad_id"), int):
        return int(padding["pad_id"])
    for token in ("[PAD]", "<pad>"):  # BERT / DistilBERT, then RoBERTa / MPNet
        pad = tokenizer.token_to_id(token)
        if pad is not None:
            return int(pad)
    return 0


def _as_samples(inputs: Inputs) -> list[str] | list[list[int]]:
    """Normalise the accepted input forms; every failure names the offending item and its type.

    ``bytes`` are refused outright: they are a sequence of ints, and were once run as token ids.
    """
    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, (bytes, bytearray, memoryview)):
        raise DataError(f"inputs are {type(inputs).__name__}, not text; decode them first (data.decode('utf-8'))")
    if isinstance(inputs, np.ndarray) and inputs.ndim != 2:
        raise DataError(f"token ids as an array must be 2-D [batch, seq], got shape {inputs.shape}; pass lists of ids")
    if not isinstance(inputs, (Sequence, np.ndarray)):
        raise DataError(f"inputs are of type {type(inputs).__name__}; pass a text, a list of texts or a list of token-id "
                        "lists (turn a generator into a list first)")  # fmt: skip
    if len(inputs) == 0:
        raise DataError("no inputs given; pass a text, a list of texts or a list of token-id lists")
    if any(isinstance(item, str) for item in inputs):
        return _as_texts(inputs)
    if all(isinstance(item, (int, np.integer)) for item in inputs):
        raise DataError("inputs are one flat list of ints; pass a list of token-id lists ([[101, ..., 102]])")
    samples: list[list[int]] = []
    for index, item in enumerate(inputs):
        if isinstance(item, (bytes, bytearray, memoryview)):
            raise DataError(f"input {index} is {type(item).__name__}, not text; decode it first (item.decode('utf-8'))")
        if not isinstance(item, (list, tuple, np.ndarray)):
            raise DataError(f"input {index} is of type {type(item).__name__}; pass texts (str) or token-id lists")
        if len(item) == 0:
            raise DataError(f"token-id list {index} is empty; pass at least [CLS] [SEP]")
        if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in item):
            raise DataError(f"token-id list {index} holds non-integers; pass lists of int token ids")
        samples.append([int(i) for i in item])
    return samples


def _as_texts(inputs: Sequence[Any]) -> list[str]:
    """Every item a non-empty ``str`` of valid Unicode (a lone surrogate cannot be tokenised or sent back)."""
    for index, text in enumerate(inputs):
        if not isinstance(text, str):
            raise DataError(f"input {index} is of type {type(text).__name__}, not str; pass texts only or token-id lists "
                            "only, no mix")  # fmt: skip
        if not text.strip():
            raise DataError(f"text {index} is empty; pass non-empty texts")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DataError(f"text {index} holds a lone surrogate ({text[exc.start]!a} at character {exc.start}), "
                            "which is not Unicode text; send valid UTF-8") from None  # fmt: skip
    return list(inputs)
