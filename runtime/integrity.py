"""Integrity checks of a bundle on disk: every referenced file is listed, every listed file is intact, and the bytes a
runtime reads are the bytes that were verified.

Kept apart from parsing because these are the checks that touch the disk, and because the same rules must hold for
the C++ runtime: one place to read them. Why so strict about *how* files are opened: a hash check that reads
through a symlink, blocks on a FIFO or streams ``/dev/zero`` is itself the attack, so every file is opened relative
to the bundle directory, component by component, without following links, non-blocking, and refused unless it is
a regular file; reads are bounded by the size the manifest records.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from acc.profiles import BundleError

if TYPE_CHECKING:
    from .bundle_format import FileEntry, Manifest

MANIFEST_NAME = "manifest.json"
REEXPORT = "re-export the bundle with acc-export"
RECOPY = f"copy the whole bundle again or {REEXPORT}"
MAX_MANIFEST_BYTES = 16 << 20  # a manifest is a few kB; this bounds the read of a hostile one
_CHUNK_BYTES = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def check_references(manifest: Manifest, tokenizer_file: str = "tokenizer.json") -> None:
    """Profile graphs, the adjustable graph, engines and the tokenizer file must be listed files; names unique."""
    listed = manifest.files
    where = manifest.bundle_dir / MANIFEST_NAME
    names = [entry.name for entry in manifest.profiles]
    if len(set(names)) != len(names):
        raise BundleError(f"{where} lists a profile name twice ({names}); {REEXPORT}")
    if not manifest.profiles and manifest.adjustable is None:
        raise BundleError(f"{where} lists no profiles and no adjustable graph; {REEXPORT}")
    for entry in manifest.profiles:
        if entry.graph not in listed:
            raise BundleError(f"profile {entry.name!r} graph {entry.graph} is not listed in {where} files; {REEXPORT}")
    if manifest.adjustable is not None and manifest.adjustable.graph not in listed:
        raise BundleError(f"adjustable graph {manifest.adjustable.graph} is not listed in {where} files; {REEXPORT}")
    for engine in manifest.engines:
        if engine.file not in listed:
            raise BundleError(
                f"engine {engine.file} (profile {engine.profile!r}) is not listed in {where} files; {REEXPORT}"
            )
    tokenizer = f"{manifest.tokenizer}/{tokenizer_file}"
    if tokenizer not in listed:
        raise BundleError(f"tokenizer file {tokenizer} is not listed in {where} files (it would be read unverified); "
                          f"{REEXPORT}")  # fmt: skip


def check_files(manifest: Manifest, rehash: bool = True) -> None:
    """Every listed file is a regular file inside the bundle with its recorded size; with ``rehash`` also its sha256.

    Nothing is read through a link or from a FIFO or device: those are refused before a byte is read.
    """
    for relative, entry in manifest.files.items():
        fd = open_inside(manifest.bundle_dir, relative)
        try:
            _check_size(fd, manifest.bundle_dir, relative, entry.bytes)
            if rehash:
                _check_sha256(_read_bounded(fd, entry.bytes, hashing_only=True), manifest.bundle_dir, relative, entry)
        finally:
            os.close(fd)


def read_verified(bundle_dir: Path, relative: str, entry: FileEntry) -> bytes:
    """The bytes of one listed file, read once, checked against the recorded size and sha256, then returned.

    Callers hand these bytes (not the path) to ONNX Runtime and the tokenizer, so nothing changed on disk after the
    check can reach a prediction.
    """
    fd = open_inside(bundle_dir, relative)
    try:
        _check_size(fd, bundle_dir, relative, entry.bytes)
        data = _read_bounded(fd, entry.bytes)
    finally:
        os.close(fd)
    assert isinstance(data, bytes)
    if len(data) != entry.bytes:
        raise BundleError(f"{relative} in bundle {bundle_dir} changed size while it was read; {RECOPY}")
    _check_sha256(hashlib.sha256(data), bundle_dir, relative, entry)
    return data


def read_manifest_bytes(bundle_dir: Path) -> bytes:
    """``manifest.json``'s bytes by the same rules (regular file, no links), at most ``MAX_MANIFEST_BYTES``."""
    fd = open_inside(bundle_dir, MANIFEST_NAME, missing=f"{bundle_dir} is not an acc bundle (no {MANIFEST_NAME}); "
                     "pass a directory written by acc-export")  # fmt: skip
    try:
        size = os.fstat(fd).st_size
        if size > MAX_MANIFEST_BYTES:
            raise BundleError(f"{bundle_dir / MANIFEST_NAME} has {size} bytes, more than the {MAX_MANIFEST_BYTES} a "
                              f"manifest may have; {REEXPORT}")  # fmt: skip
        data = _read_bounded(fd, size)
    finally:
        os.close(fd)
    assert isinstance(data, bytes)
    return data


def open_inside(bundle_dir: Path, relative: str, missing: str | None = None) -> int:
    """A read-only descriptor of the regular file ``relative`` under ``bundle_dir``, opened without following links.

    Each directory on the way is opened relative to the previous one with ``O_NOFOLLOW``, so a link anywhere in the
    path (``graphs -> /elsewhere``) is refused; the file is ``lstat``-ed before it is opened (a FIFO or device is
    never opened) and ``fstat``-ed after (the same regular file). ``missing``: the message when it does not exist.
    """
    parts = PurePosixPath(relative).parts
    where = f"{relative} in bundle {bundle_dir}"
    if not parts or any(part in ("", ".", "..") for part in parts) or PurePosixPath(relative).is_absolute():
        raise BundleError(f"{where} names a path outside the bundle; paths must be relative, without '..'")
    try:
        dir_fd = os.open(bundle_dir, _DIR_FLAGS)
    except OSError as exc:
        raise BundleError(f"cannot open bundle {bundle_dir} ({exc.strerror}); pass the directory written by "
                          "acc-export") from exc  # fmt: skip
    try:
        for index, part in enumerate(parts):
            is_last = index == len(parts) - 1
            info = _lstat(part, dir_fd, bundle_dir, relative, missing if is_last else None)
            if stat.S_ISLNK(info.st_mode):
                raise BundleError(f"{'/'.join(parts[: index + 1])} in bundle {bundle_dir} is a symbolic link; a bundle "
                                  f"holds regular files only (cp -rL copies the targets), {RECOPY}")  # fmt: skip
            if not is_last:
                if not stat.S_ISDIR(info.st_mode):
                    raise BundleError(f"{'/'.join(parts[: index + 1])} in bundle {bundle_dir} is not a directory; "
                                      f"{RECOPY}")  # fmt: skip
                next_fd = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
                os.close(dir_fd)
                dir_fd = next_fd
                continue
            if not stat.S_ISREG(info.st_mode):
                raise BundleError(f"{where} is a {_kind(info.st_mode)}, not a regular file; {RECOPY}")
            fd = os.open(part, _FILE_FLAGS, dir_fd=dir_fd)
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
                os.close(fd)
                raise BundleError(f"{where} was replaced while it was opened; {RECOPY}")
            return fd
    except OSError as exc:
        raise BundleError(f"cannot open {where} ({exc.strerror}); check its permissions or {RECOPY}") from exc
    finally:
        os.close(dir_fd)
    raise AssertionError("unreachable")  # pragma: no cover


def _lstat(part: str, dir_fd: int, bundle_dir: Path, relative: str, missing: str | None) -> os.stat_result:
    try:
        return os.stat(part, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        message = missing or f"bundle {bundle_dir} is missing file {relative} listed in {MANIFEST_NAME}; {RECOPY}"
        raise BundleError(message) from None


def _kind(mode: int) -> str:
    kinds = {stat.S_ISFIFO: "FIFO", stat.S_ISCHR: "character device", stat.S_ISBLK: "block device",
             stat.S_ISSOCK: "socket", stat.S_ISDIR: "directory"}  # fmt: skip
    return next((name for test, name in kinds.items() if test(mode)), "special file")


def _check_size(fd: int, bundle_dir: Path, relative: str, expected: int) -> None:
    size = os.fstat(fd).st_size
    if size != expected:
        raise BundleError(f"{relative} in bundle {bundle_dir} has {size} bytes, {MANIFEST_NAME} says {expected} "
                          f"(truncated or modified); {RECOPY}")  # fmt: skip


def _read_bounded(fd: int, size: int, hashing_only: bool = False) -> bytes | hashlib._Hash:
    """Read at most ``size`` bytes (and one more, to notice growth): the bytes, or with ``hashing_only`` their
    sha256 object (multi-GB weights need not fit in memory just to be checked)."""
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(_CHUNK_BYTES, left))
        if not chunk:
            break
        left -= len(chunk)
        digest.update(chunk) if hashing_only else chunks.append(chunk)
    if left > 0 or os.read(fd, 1):
        raise BundleError(f"a bundle file changed size while it was read (expected {size} bytes); {RECOPY}")
    return digest if hashing_only else b"".join(chunks)


def _check_sha256(digest: hashlib._Hash, bundle_dir: Path, relative: str, entry: FileEntry) -> None:
    actual = digest.hexdigest()
    if actual != entry.sha256:
        raise BundleError(f"{relative} in bundle {bundle_dir} has sha256 {actual[:12]}…, {MANIFEST_NAME} says "
                          f"{entry.sha256[:12]}… (modified after export); {RECOPY}")  # fmt: skip


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (for files outside a bundle's rules, e.g. the exporter's)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
