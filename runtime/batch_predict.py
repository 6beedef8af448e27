"""Classify a file of texts with a bundle (``acc-predict``): read rows, run them in batches, write one result per row.

Why a module beside the CLI: reading the three input formats, the batching loop and the two output formats are what
a user would otherwise script around ``Runtime.predict``; here they are one tested path, and the CLI only parses
flags. Rows keep their input line number (``line``, 1-based, header counted), so a result can be traced back to
its source even where blank lines were skipped.

Input: ``.txt`` one text per line; ``.tsv`` a header row naming the text column (``--text-column``, default
``sentence``, ``text`` or ``content``, so GLUE's and the shipped SST-2 files work); ``.jsonl`` one object per line
with that key, or one JSON string per line; ``-`` for stdin (``txt`` unless told otherwise). Output: JSONL or TSV
with ``line``, ``label``, ``score`` (the probability of that label), ``profile``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from acc.profiles import DataError

from .request import RequestOptions

if TYPE_CHECKING:
    from .runtime import Runtime

INPUT_FORMATS = ("txt", "tsv", "jsonl")
OUTPUT_FORMATS = ("jsonl", "tsv")
DEFAULT_TEXT_COLUMNS = ("sentence", "text", "content")  # GLUE, common, the SST-2 files shipped here
OUTPUT_FIELDS = ("line", "label", "score", "profile")


@dataclass(frozen=True)
class Row:
    """One text and the 1-based line it came from."""

    line: int
    text: str


@dataclass
class Summary:
    """What a run did: rows, seconds, and how many rows each profile served."""

    rows: int = 0
    seconds: float = 0.0
    profiles: Counter = field(default_factory=Counter)

    def line(self) -> str:
        """``872 rows in 3.21 s (271.6 rows/s); profiles: s3 872 (100.0%)``."""
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        mix = ", ".join(f"{name} {count} ({100 * count / self.rows:.1f}%)"
                        for name, count in self.profiles.most_common()) if self.rows else "none"  # fmt: skip
        return f"{self.rows} rows in {self.seconds:.2f} s ({rate:.1f} rows/s); profiles: {mix}"


def input_format(path: str, given: str | None) -> str:
    """The format of ``path`` (``-`` is stdin): ``given`` if set, else its extension; one error line otherwise."""
    if given is not None:
        if given not in INPUT_FORMATS:
            raise DataError(f"--format must be one of {', '.join(INPUT_FORMATS)}, got {given!r}")
        return given
    if path == "-":
        return "txt"
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in INPUT_FORMATS:
        raise DataError(f"cannot tell the format of {path} from its extension; name it .txt, .tsv or .jsonl, or pass "
                        "--format txt|tsv|jsonl")  # fmt: skip
    return suffix


def read_rows(stream: TextIO, fmt: str, where: str, text_column: str | None = None) -> Iterator[Row]:
    """Rows of ``stream`` in format ``fmt``; blank lines are skipped; bad rows are one ``DataError`` naming the line."""
    if fmt == "txt":
        for number, line in enumerate(stream, start=1):
            text = line.rstrip("\r\n")
            if text.strip():
                yield Row(number, text)
    elif fmt == "tsv":
        yield from _tsv_rows(stream, where, text_column)
    elif fmt == "jsonl":
        yield from _jsonl_rows(stream, where, text_column or "text")
    else:
        raise DataError(f"unknown input format {fmt!r}; pass one of {', '.join(INPUT_FORMATS)}")


def _tsv_rows(stream: TextIO, where: str, text_column: str | None) -> Iterator[Row]:
    reader = csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None:
        return
    wanted = [text_column] if text_column else list(DEFAULT_TEXT_COLUMNS)
    column = next((header.index(name) for name in wanted if name in header), None)
    if column is None:
        raise DataError(f"{where}: header {header} has no column {' or '.join(map(repr, wanted))}; pass "
                        "--text-column NAME")  # fmt: skip
    for number, cells in enumerate(reader, start=2):
        if not cells or not any(cell.strip() for cell in cells):
            continue
        if column >= len(cells) or not cells[column].strip():
            raise DataError(f"{where} line {number}: column {header[column]!r} is empty; fill it or delete the line")
        yield Row(number, cells[column])


def _jsonl_rows(stream: TextIO, where: str, key: str) -> Iterator[Row]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where} line {number} is not JSON ({exc.msg}); write one object per line like "
                            f'{{"{key}": "..."}}') from None  # fmt: skip
        text = value.get(key) if isinstance(value, dict) else value
        if not isinstance(text, str):
            raise DataError(f'{where} line {number} has no string "{key}"; write {{"{key}": "..."}} or pass '
                            "--text-column NAME")  # fmt: skip
        yield Row(number, text)


def output_format(path: str | None, given: str | None) -> str:
    """``given``, else the output file's extension (``.jsonl``/``.tsv``), else JSONL (stdout)."""
    if given is not None:
        if given not in OUTPUT_FORMATS:
            raise DataError(f"--output-format must be one of {', '.join(OUTPUT_FORMATS)}, got {given!r}")
        return given
    if path is None or path == "-":
        return "jsonl"
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in OUTPUT_FORMATS:
        raise DataError(f"cannot tell the output format of {path}; name it .jsonl or .tsv, or pass --output-format")
    return suffix


class ResultWriter:
    """Writes result rows as JSONL or TSV (header first)."""

    def __init__(self, stream: TextIO, fmt: str) -> None:
        self._stream, self._fmt = stream, fmt
        if fmt == "tsv":
            stream.write("\t".join(OUTPUT_FIELDS) + "\n")

    def write(self, line: int, label: str, score: float, profile: str) -> None:
        if self._fmt == "jsonl":
            record = {"line": line, "label": label, "score": round(score, 6), "profile": profile}
            self._stream.write(json.dumps(record) + "\n")
        else:
            self._stream.write(f"{line}\t{label}\t{score:.6f}\t{profile}\n")


def batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    """Consecutive groups of ``size`` rows (the last one shorter)."""
    if size < 1:
        raise DataError(f"--batch-size must be >= 1, got {size}")
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def predict_rows(
    runtime: Runtime,
    rows: Iterator[Row],
    writer: ResultWriter,
    options: RequestOptions,
    batch_size: int = 32,
    progress: bool = True,
    total: int | None = None,
) -> Summary:
    """Classify ``rows`` batch by batch with ``options`` (each batch gets the profile the policy picks for it)."""
    from tqdm import tqdm

    summary = Summary()
    start = time.perf_counter()
    with tqdm(total=total, unit="row", file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:
        for chunk in batches(rows, batch_size):
            prediction = runtime.predict([row.text for row in chunk], options)
            for row, label, label_id, probabilities in zip(chunk, prediction.labels, prediction.label_ids,
                                                           prediction.probabilities):  # fmt: skip
                writer.write(row.line, label, float(probabilities[label_id]), prediction.profile)
            summary.rows += len(chunk)
            summary.profiles[prediction.profile] += len(chunk)
            bar.update(len(chunk))
    summary.seconds = time.perf_counter() - start
    return summary


def count_lines(path: str, header: bool = False) -> int | None:
    """Lines in a file less its header (the progress bar's total; blank lines count), or ``None`` for stdin."""
    if path == "-":
        return None
    with open(path, "rb") as handle:
        return max(0, sum(1 for _ in handle) - int(header))


def open_input(path: str) -> TextIO:
    """The input stream (stdin for ``-``); one ``DataError`` line when the file cannot be read."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8") if hasattr(sys.stdin, "buffer") else sys.stdin
    try:
        return open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror or exc}); pass an existing .txt, .tsv or .jsonl file or - "
                        "for stdin") from None  # fmt: skip


def describe_options(options: RequestOptions) -> Sequence[str]:
    """The constraints set, for the summary (``speedup=3``)."""
    return [f"{name}={value:g}" for name, value in (("speedup", options.speedup),
            ("latency_budget_ms", options.latency_budget_ms), ("min_accuracy", options.min_accuracy))
            if value is not None]  # fmt: skip
