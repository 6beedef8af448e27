"""Write a bundle: hash every staged file, write ``manifest.json``, then move the directory into place atomically.

Why a staging directory beside the target: ``rename`` is atomic only inside one file system, so a reader (a
runtime, a CI job, ``acc-bench``) sees either no bundle or a complete, hashed one, never a half-written directory.
The caller fills the staging directory (graphs, weights, tokenizer, profiles) and hands it to ``write_bundle``,
which owns it from then on: it is either renamed to the target or removed.

The format is ``acc.runtime.bundle_format`` (docs/DESIGN.md#bundle), the one definition the runtime reads with too:
the manifest is built as a ``BundleManifest`` record in strict mode, so a key the format does not define, a value of
the wrong type or a bad model card fails the export here instead of the first load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from acc.profiles import BundleError
from acc.runtime.bundle_format import BundleManifest, FileEntry
from acc.runtime.integrity import MANIFEST_NAME

# Keys write_bundle computes itself; a caller that passes them is confused about who owns them.
_COMPUTED_KEYS = ("format", "format_version", "files")
_REQUIRED_KEYS = ("model", "profiles")
# Distribution names whose versions every manifest records (read from package metadata: no heavy imports).
_VERSIONED_PACKAGES = {
    "acc": "acc-deploy",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "torch": "torch",
    "transformers": "transformers",
}
_CHUNK_BYTES = 1 << 20


def file_digest(path: str | os.PathLike[str]) -> FileEntry:
    """sha256 and size of one file, read in 1 MiB chunks so multi-GB weight files do not need to fit in memory."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise BundleError(f"cannot read {path} to hash it ({exc.strerror}); check it exists and is readable") from exc
    return FileEntry(sha256=digest.hexdigest(), bytes=size)


def new_staging_dir(target_dir: str | os.PathLike[str]) -> Path:
    """An empty temp directory beside ``target_dir`` (same file system, so the final rename is atomic).

    Its name starts with a dot and names the target, so a leftover after a crash is easy to recognise.
    """
    target = Path(target_dir)
    check_output_dir(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    except OSError as exc:
        raise BundleError(f"cannot write the bundle {target} ({exc.strerror}: {exc.filename}); pass an --output in "
                          "a writable directory") from None  # fmt: skip


def check_output_dir(target: str | os.PathLike[str]) -> None:
    """Fail before any work when ``target`` cannot be written: its nearest existing ancestor must be a writable
    directory (not a regular file, not read-only), and ``target`` itself, if it exists, a directory."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise BundleError(f"output {target} is a file, not a directory; pass another --output")
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise BundleError(f"cannot write the bundle {target}: {ancestor} is a file, not a directory; pass another "
                          "--output")  # fmt: skip
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise BundleError(f"cannot write the bundle {target}: {ancestor} is not writable; pass an --output in a "
                          "writable directory")  # fmt: skip


def installed_versions() -> dict[str, str | None]:
    """Versions of the packages a bundle depends on; ``None`` for one that is not installed."""
    versions: dict[str, str | None] = {}
    for key, distribution in _VERSIONED_PACKAGES.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[key] = None
    return versions


def bundle_files(staging_dir: Path) -> dict[str, FileEntry]:
    """``{relative posix path: FileEntry}`` for every file under ``staging_dir`` except the manifest.

    Symlinks are refused: a bundle must be self-contained, and a link could point at a file that changes later.
    """
    files: dict[str, FileEntry] = {}
    for path in sorted(staging_dir.rglob("*")):
        relative = path.relative_to(staging_dir).as_posix()
        if path.is_symlink():
            raise BundleError(f"bundle file {relative} is a symlink; copy the file into the bundle instead")
        if path.is_dir() or relative == MANIFEST_NAME:
            continue
        files[relative] = file_digest(path)
    return files


def build_manifest(manifest_fields: dict[str, Any], files: dict[str, FileEntry]) -> BundleManifest:
    """The manifest record: the caller's fields, the format's defaults, the versions and the file table.

    Checks that every file the manifest refers to (tokenizer, graphs, engines) is in the bundle, so a bundle that
    the runtime would reject is never written.
    """
    for key in _COMPUTED_KEYS:
        if key in manifest_fields:
            raise BundleError(f"manifest field {key!r} is computed by write_bundle; remove it from manifest_fields")
    missing = [key for key in _REQUIRED_KEYS if key not in manifest_fields]
    if missing:
        raise BundleError(f"manifest_fields lacks {', '.join(missing)}; pass the model card and the profile list")
    data = {
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tables": {},
        **manifest_fields,
        "versions": {**installed_versions(), **dict(manifest_fields.get("versions") or {})},
        "files": {path: entry.to_json() for path, entry in files.items()},
    }
    manifest = BundleManifest.from_json(data, "manifest being written", strict=True)
    _check_references(manifest)
    return manifest


def _check_references(manifest: BundleManifest) -> None:
    if f"{manifest.tokenizer}/tokenizer.json" not in manifest.files:  # the one tokenizer file the runtimes read
        raise BundleError(f"tokenizer directory {manifest.tokenizer}/ has no tokenizer.json in the bundle; save a fast "
                          "tokenizer (save_pretrained of a PreTrainedTokenizerFast)")  # fmt: skip
    referenced = [(f"profile {entry.name!r} graph", entry.graph) for entry in manifest.profiles]
    if manifest.adjustable is not None:
        referenced.append(("adjustable graph", manifest.adjustable.graph))
    referenced += [(f"engine for profile {entry.profile!r}", entry.file) for entry in manifest.engines]
    for what, path in referenced:
        if path not in manifest.files:
            raise BundleError(f"{what} {path!r} is not a file in the bundle; write it into the staging dir first")


def write_bundle(
    staging_dir: str | os.PathLike[str],
    target_dir: str | os.PathLike[str],
    manifest_fields: dict[str, Any],
    overwrite: bool = False,
    sign_key: str | os.PathLike[str] | None = None,
) -> Path:
    """Hash the staged files, write ``manifest.json`` and rename ``staging_dir`` to ``target_dir``.

    ``staging_dir`` must come from :func:`new_staging_dir` (same parent as the target). On any exception it is
    removed and no target is left behind; an existing target is only replaced with ``overwrite=True``, and is
    restored if the final rename fails. ``sign_key``: a PEM private key; ``manifest.json.sig`` is written beside
    the manifest (``acc.runtime.signing``) before the rename, so a signed export is never seen unsigned. Returns
    the target path.
    """
    staging = Path(staging_dir)
    target = Path(target_dir)
    try:
        if not staging.is_dir():
            raise BundleError(f"staging dir {staging} does not exist; create it with new_staging_dir({str(target)!r})")
        if staging.resolve().parent != target.resolve().parent:
            raise BundleError(
                f"staging dir {staging} is not beside {target} (rename would not be atomic); use new_staging_dir"
            )
        if target.exists() and not overwrite:
            raise BundleError(f"bundle {target} already exists; pass overwrite=True (--overwrite) or another path")
        manifest = build_manifest(manifest_fields, bundle_files(staging))
        _write_json(staging / MANIFEST_NAME, manifest.to_json())
        if sign_key is not None:
            from acc.runtime.signing import sign_manifest

            sign_manifest(staging, sign_key)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _write_json(path: Path, data: dict[str, Any]) -> None:
    try:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise BundleError(f"manifest is not plain JSON ({exc}); pass numbers, strings, lists and dicts only") from exc
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename staging → target. A non-empty directory cannot be renamed over, so an old target steps aside first."""
    if not target.exists():
        staging.rename(target)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    backup.rmdir()
    target.rename(backup)
    try:
        staging.rename(target)
    except BaseException:
        backup.rename(target)
        raise
    shutil.rmtree(backup, ignore_errors=True)
