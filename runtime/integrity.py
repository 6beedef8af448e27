"""Integrity checks of a parsed manifest: every referenced file is listed, every listed file is intact.

Kept apart from parsing because these are the checks that touch the disk (sizes, sha256), and because the same
rules must hold for the C++ runtime: one place to read them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from acc.profiles import BundleError

if TYPE_CHECKING:
    from .manifest import Manifest

MANIFEST_NAME = "manifest.json"
REEXPORT = "re-export the bundle with acc-export"
_CHUNK_BYTES = 1 << 20


def check_references(manifest: Manifest) -> None:
    """Profile graphs, the adjustable graph, engines and the tokenizer must be listed files; names unique."""
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
    if not any(path.startswith(manifest.tokenizer + "/") for path in listed):
        raise BundleError(f"tokenizer directory {manifest.tokenizer}/ has no files listed in {where}; {REEXPORT}")


def check_files(manifest: Manifest, rehash: bool = True) -> None:
    """Every listed file exists with its recorded size; with ``rehash`` also its sha256 (reads every byte)."""
    for relative, entry in manifest.files.items():
        path = manifest.path(relative)
        if not path.is_file():
            raise BundleError(
                f"bundle {manifest.bundle_dir} is missing file {relative} listed in {MANIFEST_NAME}; "
                f"copy the whole bundle again or {REEXPORT}"
            )
        size = path.stat().st_size
        if size != entry.bytes:
            raise BundleError(
                f"{relative} in bundle {manifest.bundle_dir} has {size} bytes, {MANIFEST_NAME} says {entry.bytes} "
                f"(truncated or modified); copy the whole bundle again or {REEXPORT}"
            )
        if rehash and (actual := sha256_of(path)) != entry.sha256:
            raise BundleError(
                f"{relative} in bundle {manifest.bundle_dir} has sha256 {actual[:12]}…, {MANIFEST_NAME} says "
                f"{entry.sha256[:12]}… (modified after export); copy the whole bundle again or {REEXPORT}"
            )


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
