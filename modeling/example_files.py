"""Read labelled or unlabelled examples from a user's file: one text per line, TSV with a header, or JSONL.

One reader for every tool that takes data (``acc-export --validation-data``, ``acc-finetune --train-file`` /
``--eval-file``, SST-2 itself), so a file that trains a model also validates its export.

Formats, by file name (``.gz`` allowed on any):

- ``*.jsonl``: one JSON object a line with ``text``, optional ``text_pair`` and optional ``label``;
- ``*.tsv``: a header line naming the columns — ``text`` (or ``sentence``/``content``/``sentence1``), optional
  ``text_pair`` (or ``sentence2``), optional ``label`` — as in GLUE's files;
- anything else: plain text, one example a line (blank lines skipped), no labels.

Labels are class indices (``0``…``n-1``) or the model's label names, or numbers for a regression head
(``num_labels=1``). A bad line fails with ``FILE:LINE: problem; fix``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from acc.profiles import DataError

TEXT_COLUMNS = ("text", "sentence", "content", "sentence1")
PAIR_COLUMNS = ("text_pair", "sentence2")
LABEL_COLUMN = "label"


@dataclass(frozen=True)
class LabelScheme:
    """How raw labels become targets: class names/indices for a classifier, floats for regression."""

    names: tuple[str, ...] = ()
    regression: bool = False

    def parse(self, raw: Any, where: str) -> int | float:
        if self.regression:
            try:
                return float(raw)
            except (TypeError, ValueError):
                raise DataError(f"{where}: label {raw!r} is not a number; a regression model (num_labels=1) "
                                "needs numeric labels") from None  # fmt: skip
        text = str(raw).strip()
        if text in self.names:
            return self.names.index(text)
        if isinstance(raw, (int, str)) and text.lstrip("-").isdigit() and 0 <= int(text) < len(self.names):
            return int(text)
        raise DataError(f"{where}: label {raw!r} is not one of 0..{len(self.names) - 1} or "
                        f"{', '.join(self.names)}; fix the label or drop the label column")  # fmt: skip


@dataclass(frozen=True)
class Examples:
    """Texts (and text pairs) with optional targets, in file order."""

    name: str
    texts: list[str]
    labels: list[int] | list[float] | list[Any] | None = None  # list[Any]: as written, when read without a scheme
    text_pairs: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, n: int | None) -> Examples:
        """The first ``n`` examples (all when ``n`` is None): small runs for tests and smoke checks."""
        if n is None:
            return self
        return Examples(self.name, self.texts[:n], None if self.labels is None else self.labels[:n],
                        None if self.text_pairs is None else self.text_pairs[:n])  # fmt: skip


def read_examples(path: str | os.PathLike[str], labels: LabelScheme | None = None, name: str | None = None) -> Examples:
    """Read ``path`` in the format its name says; ``labels`` parses a label column (None: labels as written)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} not found; pass an existing .txt, .tsv or .jsonl file")
    stem = path.name.removesuffix(".gz")
    with _open_text(path) as handle:
        if stem.endswith(".jsonl"):
            rows = list(_jsonl_rows(handle, path))
        elif stem.endswith(".tsv"):
            rows = list(_tsv_rows(handle, path))
        else:
            rows = [
                (f"{path}:{n}", line.rstrip("\r\n"), None, None) for n, line in enumerate(handle, 1) if line.strip()
            ]
    if not rows:
        raise DataError(f"{path} holds no examples; write one text per line (or TSV/JSONL rows)")
    return _examples(name or stem, rows, labels, path)


def _examples(
    name: str, rows: list[tuple[str, str, str | None, Any]], scheme: LabelScheme | None, path: Path
) -> Examples:
    with_label = [row[3] is not None for row in rows]
    if any(with_label) and not all(with_label):
        missing = rows[with_label.index(False)][0]
        raise DataError(f"{missing}: no label while other rows have one; label every row or none ({path})")
    with_pair = [row[2] is not None for row in rows]
    if any(with_pair) and not all(with_pair):
        missing = rows[with_pair.index(False)][0]
        raise DataError(f"{missing}: no text_pair while other rows have one; give every row a pair or none")
    labels = None
    if all(with_label):
        labels = [scheme.parse(row[3], row[0]) if scheme else row[3] for row in rows]
    pairs = [str(row[2]) for row in rows] if all(with_pair) else None
    return Examples(name, [row[1] for row in rows], labels, pairs)


def _open_text(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _tsv_rows(handle: IO[str], path: Path) -> Iterator[tuple[str, str, str | None, str | None]]:
    reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = [cell.strip().lower() for cell in next(reader, [])]
    text_col = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    if text_col is None:
        raise DataError(f"{path}:1: header {header!r} names no text column; start the file with a header line "
                        "such as 'label<TAB>text' (or text<TAB>text_pair<TAB>label)")  # fmt: skip
    pair_col = next((header.index(c) for c in PAIR_COLUMNS if c in header), None)
    label_col = header.index(LABEL_COLUMN) if LABEL_COLUMN in header else None
    for line_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise DataError(f"{path}:{line_no}: {len(row)} column(s), the header has {len(header)} "
                            f"({', '.join(header)}); fix the row (tabs separate columns)")  # fmt: skip
        yield (f"{path}:{line_no}", row[text_col], None if pair_col is None else row[pair_col],
               None if label_col is None else row[label_col])  # fmt: skip


def _jsonl_rows(handle: IO[str], path: Path) -> Iterator[tuple[str, str, str | None, Any]]:
    for line_no, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not JSON ({exc.msg}); write one object a line, e.g. "
                            '{"text": "...", "label": 1}') from None  # fmt: skip
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DataError(f'{where}: expected an object with a string "text"; e.g. {{"text": "...", "label": 1}}')
        pair = row.get("text_pair")
        if pair is not None and not isinstance(pair, str):
            raise DataError(f'{where}: "text_pair" must be a string; e.g. {{"text": "...", "text_pair": "..."}}')
        yield where, row["text"], pair, row.get("label")


def infer_label_scheme(raw: Sequence[Any]) -> LabelScheme:
    """The head a training file asks for: numbers with a fraction → regression; integers → classes 0..max;
    words → one class per distinct word (sorted)."""
    texts = [str(value).strip() for value in raw]
    if all(text.lstrip("-").isdigit() for text in texts) and not any(isinstance(v, float) for v in raw):
        return LabelScheme(tuple(str(i) for i in range(max(max(int(t) for t in texts) + 1, 2))))
    try:
        [float(text) for text in texts]
    except ValueError:
        return LabelScheme(tuple(sorted(set(texts))))
    return LabelScheme(regression=True)


def label_scheme(label_names: Sequence[str], num_labels: int) -> LabelScheme:
    """The scheme for a model head: regression for one output, else its class names (or indices)."""
    if num_labels == 1:
        return LabelScheme(regression=True)
    names = tuple(label_names) if len(label_names) == num_labels else tuple(str(i) for i in range(num_labels))
    return LabelScheme(names)
