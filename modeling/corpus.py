"""A real English text corpus from Debian packages, a BPE tokenizer trained on it, and its token ids on disk.

Why Debian packages: no model hub or data-set host is reachable here, but the package registries are, and four
packages ship a lot of real English with known licences (see ``SOURCES``; about 9M words, ~12M BPE tokens):

| source       | packages                    | licence                         |
|--------------|-----------------------------|---------------------------------|
| kjv          | bible-kjv, bible-kjv-text   | KJV text public domain          |
| python-docs  | python3.11-doc              | PSF License                     |
| perl-docs    | perl-doc                    | GPL-1+ or Artistic              |
| gcide        | dict-gcide                  | GPL (Webster's 1913 + additions)|

Flow: ``fetch_sources`` (``apt-get download`` + ``dpkg-deb -x``) → ``read_documents`` → ``split_documents``
(whole documents, by a hash of their name, so the split never depends on the order files were read) →
``train_tokenizer`` (byte-level BPE with the ``tokenizers`` library, GPT-2 style) → ``encode_documents`` →
``save_token_corpus`` (uint16 ids, xz-compressed, small enough to travel to the GPU machine with the repo).
Both the causal LM and the seq2seq model train from this; each picks its own special tokens.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acc.profiles import DataError

from ._corpus_readers import Document, read_gcide, read_kjv, read_perl_docs, read_python_docs

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

EOS_TOKEN = "<|endoftext|>"
CORPUS_META = "meta.json"
TOKENIZER_FILE = "tokenizer.json"
CORPUS_FORMAT_VERSION = 1


@dataclass(frozen=True)
class CorpusSource:
    """One text source: the Debian packages that ship it, its licence, and the reader that extracts documents."""

    name: str
    packages: tuple[str, ...]
    licence: str
    description: str
    reader: Callable[[Path], Iterator[Document]]


SOURCES: dict[str, CorpusSource] = {
    source.name: source
    for source in (
        CorpusSource("kjv", ("bible-kjv", "bible-kjv-text"), "public domain (KJV text); packaging GPL-2+",
                     "King James Bible, decoded with the package's own bible program", read_kjv),
        CorpusSource("python-docs", ("python3.11-doc",), "PSF License",
                     "Python 3.11 manuals (reStructuredText sources)", read_python_docs),
        CorpusSource("perl-docs", ("perl-doc",), "GPL-1+ or Artistic",
                     "Perl 5.36 manual pages (POD)", read_perl_docs),
        CorpusSource("gcide", ("dict-gcide",), "GPL-3+ (Webster's 1913 public domain + GCIDE additions)",
                     "GNU Collaborative International Dictionary of English", read_gcide),
    )
}  # fmt: skip


def fetch_sources(workdir: str | Path, names: Sequence[str] | None = None) -> Path:
    """Download the sources' Debian packages with ``apt-get download`` and unpack each under ``workdir/root/<pkg>``.

    Returns the root directory the readers take. Packages already unpacked there are not downloaded again.
    """
    workdir = Path(workdir)
    root = workdir / "root"
    debs = workdir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise DataError(f"{tool} not found; building the corpus needs a Debian/Ubuntu system with apt")
    packages = [pkg for name in _source_names(names) for pkg in SOURCES[name].packages]
    for package in packages:
        if (root / package).is_dir():
            continue
        _run(["apt-get", "download", package], cwd=debs, what=f"apt-get download {package} (run apt-get update first?)")
        deb = max(debs.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
        staging = Path(tempfile.mkdtemp(prefix=f".{package}.", dir=workdir))
        _run(["dpkg-deb", "-x", str(deb), str(staging)], cwd=workdir, what=f"dpkg-deb -x {deb.name}")
        root.mkdir(exist_ok=True)
        staging.rename(root / package)
    return root


def read_documents(root: str | Path, names: Sequence[str] | None = None) -> list[Document]:
    """Every document of the named sources (default: all), in a fixed order (source, then file name)."""
    documents: list[Document] = []
    for name in _source_names(names):
        documents += sorted(SOURCES[name].reader(Path(root)), key=lambda d: d.name)
    return documents


def split_documents(
    documents: Iterable[Document], heldout_fraction: float = 0.02, salt: str = "acc-corpus-v1"
) -> tuple[list[Document], list[Document]]:
    """(train, held-out), stratified by source: from each source, the ``ceil(fraction · n)`` documents with the
    lowest hash of (salt, source, name) are held out, so every source is in both splits and the split never
    depends on the order files were read."""
    if not 0.0 <= heldout_fraction < 1.0:
        raise DataError(f"heldout_fraction must lie in [0, 1), got {heldout_fraction}")
    by_source: dict[str, list[Document]] = {}
    for doc in documents:
        by_source.setdefault(doc.source, []).append(doc)
    held: set[tuple[str, str]] = set()
    for source, docs in by_source.items():
        ranked = sorted(docs, key=lambda d: hashlib.sha256(f"{salt}/{source}/{d.name}".encode()).digest())
        count = math.ceil(heldout_fraction * len(docs)) if len(docs) > 1 else 0
        held.update((d.source, d.name) for d in ranked[:count])
    ordered = [doc for docs in by_source.values() for doc in docs]
    train = [d for d in ordered if (d.source, d.name) not in held]
    heldout = [d for d in ordered if (d.source, d.name) in held]
    return train, heldout


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 8192, special_tokens: Sequence[str] = (EOS_TOKEN,), min_frequency: int = 2
) -> Tokenizer:
    """Byte-level BPE (GPT-2's scheme: any byte string encodes, no unknown token) trained on ``texts``.

    Special tokens get the first ids, in the order given.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size > np.iinfo(np.uint16).max + 1:
        raise DataError(f"vocab_size {vocab_size} does not fit uint16 token files; use <= 65536")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def hf_tokenizer(tokenizer: Tokenizer | str | Path, **special: str) -> PreTrainedTokenizerFast:
    """Wrap a ``tokenizers.Tokenizer`` (or its JSON file) for transformers; ``special``: eos_token=..., pad_token=..."""
    from transformers import PreTrainedTokenizerFast

    if isinstance(tokenizer, (str, Path)):
        return PreTrainedTokenizerFast(tokenizer_file=str(tokenizer), **special)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **special)


def encode_documents(
    tokenizer: Tokenizer, documents: Sequence[Document], separator_id: int | None, batch_size: int = 64
) -> np.ndarray:
    """Token ids of all documents, concatenated (``separator_id`` after each one, if given), as uint16."""
    chunks: list[np.ndarray] = []
    sep = np.asarray([] if separator_id is None else [separator_id], dtype=np.uint16)
    for start in range(0, len(documents), batch_size):
        batch = documents[start : start + batch_size]
        for encoding in tokenizer.encode_batch([doc.text for doc in batch], add_special_tokens=False):
            chunks.append(np.asarray(encoding.ids, dtype=np.uint16))
            chunks.append(sep)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint16)


@dataclass(frozen=True, eq=False)
class TokenCorpus:
    """A saved corpus: uint16 token ids per split, the tokenizer file that made them, and what they came from."""

    directory: Path
    splits: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tokenizer_path(self) -> Path:
        return self.directory / TOKENIZER_FILE

    def __getitem__(self, split: str) -> np.ndarray:
        if split not in self.splits:
            raise DataError(f"corpus {self.directory} has no split {split!r}; it has {sorted(self.splits)}")
        return self.splits[split]


def save_token_corpus(
    directory: str | Path, tokenizer: Tokenizer, splits: dict[str, np.ndarray], meta: dict[str, Any]
) -> Path:
    """Write ``tokenizer.json``, ``<split>.u16.xz`` and ``meta.json`` (counts, sha256 of the ids) atomically."""
    from .checkpoint import write_atomically

    def write(staging: Path) -> None:
        tokenizer.save(str(staging / TOKENIZER_FILE))
        info: dict[str, Any] = {}
        for name, ids in splits.items():
            raw = np.ascontiguousarray(ids, dtype="<u2").tobytes()
            (staging / f"{name}.u16.xz").write_bytes(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
            info[name] = {"tokens": int(ids.size), "sha256": hashlib.sha256(raw).hexdigest()}
        full = {
            "format_version": CORPUS_FORMAT_VERSION,
            "vocab_size": tokenizer.get_vocab_size(),
            "splits": info,
            **meta,
        }
        (staging / CORPUS_META).write_text(json.dumps(full, indent=2) + "\n")

    return write_atomically(directory, write)


def load_token_corpus(directory: str | Path, splits: Sequence[str] | None = None) -> TokenCorpus:
    """Read a corpus written by ``save_token_corpus``; checks each split's sha256 against ``meta.json``."""
    root = Path(directory)
    meta_path = root / CORPUS_META
    if not meta_path.is_file():
        raise DataError(
            f"{root} is not a token corpus (no {CORPUS_META}); build one with benchmarks/device/prepare_corpus.py"
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version", 0) > CORPUS_FORMAT_VERSION:
        raise DataError(f"corpus {root} has format_version {meta['format_version']}; upgrade acc-deploy")
    arrays: dict[str, np.ndarray] = {}
    for name in splits or sorted(meta.get("splits", {})):
        path = root / f"{name}.u16.xz"
        if not path.is_file() or name not in meta.get("splits", {}):
            raise DataError(f"corpus {root} has no split {name!r}; rebuild it with benchmarks/device/prepare_corpus.py")
        raw = lzma.decompress(path.read_bytes())
        if hashlib.sha256(raw).hexdigest() != meta["splits"][name]["sha256"]:
            raise DataError(
                f"{path} does not match its sha256 in {CORPUS_META} (corrupted copy); copy the corpus again"
            )
        arrays[name] = np.frombuffer(raw, dtype="<u2").copy()
    return TokenCorpus(root, arrays, meta)


def corpus_card(names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """What each source is, for ``meta.json`` and the docs."""
    return [
        {"name": s.name, "packages": list(s.packages), "licence": s.licence, "description": s.description}
        for s in (SOURCES[n] for n in _source_names(names))
    ]


def _source_names(names: Sequence[str] | None) -> list[str]:
    chosen = list(names) if names else list(SOURCES)
    unknown = [n for n in chosen if n not in SOURCES]
    if unknown:
        raise DataError(f"unknown corpus source(s) {unknown}; choose from {sorted(SOURCES)}")
    return chosen


def _run(command: list[str], cwd: Path, what: str) -> None:
    try:
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise DataError(f"{what} failed: {detail[-1] if detail else exc}") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"{what} failed: {exc}") from exc
