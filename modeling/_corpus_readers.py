"""Per-source readers of ``acc.modeling.corpus``: files of an unpacked Debian package → plain-text documents.

Each reader strips the source's markup (reStructuredText roles, POD commands, dictionary tags) down to the prose a
reader sees, because a small language model spends its capacity on whatever the text repeats most.
"""

from __future__ import annotations

import gzip
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from acc.profiles import DataError


class Document(NamedTuple):
    """One unit of the corpus: train/held-out splits never cut inside a document."""

    source: str
    name: str
    text: str


# ----------------------------------------------------------------------------------------------- KJV Bible


def read_kjv(root: Path) -> Iterator[Document]:
    """The King James Bible (public domain text) decoded by the package's own ``bible`` program; one book each."""
    program = root / "bible-kjv" / "usr" / "bin" / "bible"
    data = root / "bible-kjv-text" / "usr" / "lib"
    if not program.exists() or not (data / "bible.data").exists():
        raise DataError(f"KJV files missing under {root} (bible-kjv, bible-kjv-text); run fetch_sources first")
    try:
        text = subprocess.run(
            [str(program), "-p", str(data), "gen1:1-rev22:21"], check=True, capture_output=True, text=True, timeout=120
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise DataError(f"cannot run {program} to decode the KJV text ({exc}); is this a Debian/amd64 system?") from exc
    yield from _kjv_books(text)


def _kjv_books(text: str) -> Iterator[Document]:
    book, chapters, verses = None, [], []
    header = re.compile(r"^(\S.*?) (\d+)$")
    for line in text.splitlines():
        match = header.match(line)
        if match:
            if verses:
                chapters.append(" ".join(verses))
                verses = []
            if match.group(1) != book:
                if book is not None:
                    yield Document("kjv", book, "\n\n".join(chapters))
                book, chapters = match.group(1), []
            continue
        stripped = line.strip()
        if not stripped:
            continue
        verse = re.match(r"^\d+\s+(.*)$", stripped)
        if verse and line.startswith("  "):
            verses.append(verse.group(1))
        elif verses:
            verses[-1] += " " + stripped
    if verses:
        chapters.append(" ".join(verses))
    if book is not None:
        yield Document("kjv", book, "\n\n".join(chapters))


# ----------------------------------------------------------------------------------------------- Python docs

_RST_ROLE = re.compile(r":[\w:+.-]+:`!?~?([^`<]*?)(?:\s*<[^>]*>)?`")
_RST_UNDERLINE = re.compile(r"^([=*\-~^\"'#+`.])\1{2,}\s*$")


def read_python_docs(root: Path) -> Iterator[Document]:
    """The Python 3.11 manuals (PSF licence): reStructuredText sources shipped beside the HTML."""
    base = root / "python3.11-doc" / "usr" / "share" / "doc" / "python3.11" / "html" / "_sources"
    files = sorted(base.rglob("*.rst.txt"))
    if not files:
        raise DataError(f"no Python doc sources under {base}; run fetch_sources first")
    for path in files:
        text = clean_rst(path.read_text(encoding="utf-8", errors="replace"))
        if text:
            yield Document("python-docs", path.relative_to(base).as_posix(), text)


def clean_rst(text: str) -> str:
    """reST → prose: drop labels, index/comment blocks and heading rules; ``.. function:: f(x)`` → ``f(x)``."""
    out: list[str] = []
    skip_indent: int | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_indent is not None:
            if not line.strip() or indent > skip_indent:
                continue
            skip_indent = None
        stripped = line.strip()
        if _RST_UNDERLINE.match(stripped):
            continue
        if stripped.startswith(".. "):
            directive = re.match(r"\.\. ([\w:-]+)::\s*(.*)$", stripped)
            if directive and directive.group(1) not in (
                "index",
                "toctree",
                "raw",
                "only",
                "highlight",
                "sectionauthor",
            ):
                if directive.group(2):
                    out.append(" " * indent + directive.group(2))
            else:
                skip_indent = indent  # labels, comments, index entries: the line and its indented body
            continue
        if re.match(r"^\s*:[\w-]+:", line) and not _RST_ROLE.match(stripped):
            continue  # field lists of directives (:synopsis:, :noindex:)
        line = _RST_ROLE.sub(r"\1", line).replace("``", "")
        out.append(line.rstrip())
    return _squeeze_blank_lines("\n".join(out))


# ----------------------------------------------------------------------------------------------- Perl docs

_POD_CODE = re.compile(r"[BICFSLE]<([^<>]*)>")
_POD_CODE_WIDE = re.compile(r"[BICFSLE]<<+\s+(.*?)\s+>>+")
_POD_INDEX = re.compile(r"[XZ]<[^<>]*>")


def read_perl_docs(root: Path) -> Iterator[Document]:
    """The Perl 5.36 manual pages in POD (GPL-1+ or Artistic licence), ``/usr/share/perl/*/pod/*.pod``."""
    files = sorted((root / "perl-doc" / "usr" / "share" / "perl").glob("*/pod/*.pod"))
    if not files:
        raise DataError(f"no Perl POD files under {root / 'perl-doc'}; run fetch_sources first")
    for path in files:
        text = clean_pod(path.read_text(encoding="utf-8", errors="replace"))
        if text:
            yield Document("perl-docs", path.name, text)


def clean_pod(text: str) -> str:
    """POD → prose: ``=head1 X`` → ``X``, ``=item * X`` → ``X``, structural commands dropped, ``C<x>`` → ``x``."""
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith("="):
            command, _, rest = line.partition(" ")
            if command in ("=head1", "=head2", "=head3", "=head4", "=item"):
                rest = rest.strip().lstrip("*").strip()
                if rest:
                    out.append(rest)
            continue
        out.append(line.rstrip())
    body = _POD_INDEX.sub("", "\n".join(out))
    body = _POD_CODE_WIDE.sub(r"\1", body)
    for _ in range(4):  # nested codes, innermost first
        body = _POD_CODE.sub(lambda m: m.group(1).split("|")[0], body)
    return _squeeze_blank_lines(body)


# ----------------------------------------------------------------------------------------------- GCIDE

_GCIDE_TAG = re.compile(r"^\s*\[[^\]]*\]\s*$")  # "[1913 Webster]", "[PJC]": source tags on their own line
_GCIDE_PRON = re.compile(r"\\[^\\\n]*\\")
ENTRIES_PER_DOCUMENT = 2000


def read_gcide(root: Path) -> Iterator[Document]:
    """GNU Collaborative International Dictionary of English (Webster's 1913 + additions, GPL), in entry blocks."""
    path = root / "dict-gcide" / "usr" / "share" / "dictd" / "gcide.dict.dz"
    if not path.exists():
        raise DataError(f"{path} missing; run fetch_sources first")
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:  # dictzip is gzip-compatible
        text = handle.read()
    entries = [e for e in re.split(r"\n(?=\S)", text) if e.strip() and not e.startswith("00-database")]
    for start in range(0, len(entries), ENTRIES_PER_DOCUMENT):
        block = entries[start : start + ENTRIES_PER_DOCUMENT]
        yield Document("gcide", f"entries-{start:06d}", clean_gcide("\n".join(block)))


def clean_gcide(text: str) -> str:
    """Dictionary entries → prose lines: drop source tags and pronunciation marks, unwrap ``{cross refs}``."""
    lines = [line.strip() for line in text.splitlines() if not _GCIDE_TAG.match(line)]
    body = _GCIDE_PRON.sub("", "\n".join(lines)).replace("{", "").replace("}", "")
    return _squeeze_blank_lines(re.sub(r"[ \t]+", " ", body))


def _squeeze_blank_lines(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip()
