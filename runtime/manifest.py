"""Read (and verify) a bundle's ``manifest.json`` from disk; rewrite its measured tables atomically.

The format itself (records, types, defaults) is ``acc.runtime.bundle_format``; this module adds what touches the
disk: the bundle directory, strict JSON, the format version, the file table's sizes and hashes
(``acc.runtime.integrity``) and the digest that names the bundle. Every failure is one ``BundleError`` line naming the
bundle, the problem and the fix, because a half-valid bundle that loads and then fails on the first request is worse
than one that refuses to load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from acc.profiles import BundleError

from .bundle_format import BUNDLE_FORMAT, FORMAT_VERSION, AccuracyRow, LatencyRow, Manifest
from .integrity import MANIFEST_NAME, check_files, check_references, read_manifest_bytes
from .integrity import REEXPORT as _REEXPORT
from .manifest_rules import parse_strict

DIGEST_PREFIX = "sha256:"
_DIGEST = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


def bundle_digest(manifest_bytes: bytes) -> str:
    """A bundle's identity: the sha256 of its ``manifest.json`` bytes. The manifest records the sha256 and size of
    every file the runtime reads, so this one value covers the whole bundle (like a git tree hash)."""
    return DIGEST_PREFIX + hashlib.sha256(manifest_bytes).hexdigest()


def check_digest(manifest: Manifest, expected: str) -> None:
    """``expected`` (as acc-export printed it, with or without ``sha256:``) must be this bundle's digest."""
    wanted = expected.strip().lower()
    if not _DIGEST.match(wanted):
        raise BundleError(f"digest {expected!r} is not a sha256 digest; pass the 'sha256:…' line acc-export printed")
    if not wanted.startswith(DIGEST_PREFIX):
        wanted = DIGEST_PREFIX + wanted
    if wanted != manifest.digest:
        raise BundleError(f"bundle {manifest.bundle_dir} has digest {manifest.digest}, expected {wanted} (a "
                          "different or modified bundle); copy the bundle you meant, or pass its digest")  # fmt: skip


# --------------------------------------------------------------------------------------------------- reading


def read_manifest(bundle_dir: str | os.PathLike[str], verify: bool = True) -> Manifest:
    """Parse and check ``bundle_dir/manifest.json``.

    Always checked: the directory, JSON, format and version, required keys, that every referenced graph, engine
    and the tokenizer are listed files, and that every listed file exists with the recorded size. ``verify=True``
    also re-hashes every file (sha256), which catches a file edited in place; skip it only for bundles you just
    wrote or verified.
    """
    root = Path(bundle_dir)
    raw = _read_raw(root)
    data = _load_json(root, raw)
    _check_format(data, root)
    manifest = _parse(data, root, bundle_digest(raw))
    check_references(manifest)
    check_files(manifest, rehash=verify)
    return manifest


def _read_raw(root: Path) -> bytes:
    if not root.exists():
        raise BundleError(f"bundle {root} does not exist; pass the directory written by acc-export")
    if not root.is_dir():
        raise BundleError(f"bundle {root} is not a directory; pass the bundle directory (extract a .tar bundle first)")
    return read_manifest_bytes(root)


def _load_json(root: Path, raw: bytes | None = None) -> dict[str, Any]:
    """The manifest object, parsed from ``raw`` (the bytes the digest is taken of) or read now."""
    path = root / MANIFEST_NAME
    data = parse_strict(_read_raw(root) if raw is None else raw, str(path))
    if not isinstance(data, dict):
        raise BundleError(f"{path} holds a JSON {type(data).__name__}, not an object; {_REEXPORT}")
    return data


def _check_format(data: dict[str, Any], root: Path) -> None:
    if data.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{root / MANIFEST_NAME} has format {data.get('format')!r}, expected {BUNDLE_FORMAT!r}; "
            "pass a directory written by acc-export"
        )
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"bundle {root} has an invalid format_version {version!r}; {_REEXPORT}")
    if version > FORMAT_VERSION:
        versions = data.get("versions")
        writer = (versions.get("acc") if isinstance(versions, dict) else None) or "unknown"
        raise BundleError(
            f"bundle {root} has format_version {version}, written by acc-deploy {writer}; this acc-deploy "
            f"{_own_version()} reads format_version <= {FORMAT_VERSION}, upgrade acc-deploy"
        )


def _own_version() -> str:
    try:
        return metadata.version("acc-deploy")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _parse(data: dict[str, Any], root: Path, digest: str = "") -> Manifest:
    return dataclasses.replace(Manifest.from_json(data, f"{root / MANIFEST_NAME}"), bundle_dir=root, digest=digest)


# --------------------------------------------------------------------------------------------------- updating


def update_manifest_tables(
    bundle_dir: str | os.PathLike[str],
    *,
    latency_rows: Iterable[LatencyRow | Mapping[str, Any]] | None = None,
    accuracy_rows: Iterable[AccuracyRow | Mapping[str, Any]] | None = None,
    device: str | None = None,
    backend: str | None = None,
) -> Manifest:
    """Replace measured rows in ``manifest.json`` and return the re-read manifest.

    Latency rows replace every existing row of the same (backend, device), so a re-calibration never leaves stale
    points behind; ``device``/``backend`` fill rows that omit them and must agree with rows that do not. Accuracy
    rows replace rows of the same (profile, dataset). The file is written to a temp file in the bundle and swapped
    in with ``os.replace``, so a reader never sees half a manifest. Files are not re-hashed (the manifest is not
    one of them).
    """
    root = Path(bundle_dir)
    manifest = read_manifest(root, verify=False)
    data = _load_json(root)
    tables = data.setdefault("tables", {})
    if latency_rows is not None:
        rows = [_row_dict(LatencyRow, row, manifest, {"device": device, "backend": backend}) for row in latency_rows]
        replaced = {(row["backend"], row["device"]) for row in rows}
        if device is not None and backend is not None:
            replaced.add((backend, device))
        kept = [row for row in tables.get("latency", []) if (row.get("backend"), row.get("device")) not in replaced]
        tables["latency"] = kept + rows
    if accuracy_rows is not None:
        rows = [_row_dict(AccuracyRow, row, manifest, {}) for row in accuracy_rows]
        replaced = {(row["profile"], row["dataset"]) for row in rows}
        kept = [row for row in tables.get("accuracy", []) if (row.get("profile"), row.get("dataset")) not in replaced]
        tables["accuracy"] = kept + rows
    _replace_json(root / MANIFEST_NAME, data)
    return read_manifest(root, verify=False)


def _row_dict(
    cls: type[LatencyRow] | type[AccuracyRow], row: Any, manifest: Manifest, fill: dict[str, str | None]
) -> dict[str, Any]:
    """Validate one new row by building its record, so a bad row fails before anything is written."""
    raw = row.to_json() if isinstance(row, cls) else dict(row)
    for key, value in fill.items():
        if value is None:
            continue
        if raw.get(key) is None:
            raw[key] = value
        elif raw[key] != value:
            raise BundleError(
                f"{cls.__name__} for profile {raw.get('profile')!r} has {key} {raw[key]!r}, not {value!r}; "
                "pass rows measured on that backend and device"
            )
    record = cls.from_json(raw, f"new {cls.__name__}")
    if record.profile not in manifest.profile_names:
        raise BundleError(
            f"{cls.__name__} names profile {record.profile!r}, not in bundle {manifest.bundle_dir} "
            f"(has {manifest.profile_names}); measure a shipped profile"
        )
    return record.to_json()


def _replace_json(path: Path, data: dict[str, Any]) -> None:
    try:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise BundleError(f"manifest update is not plain JSON ({exc}); pass finite numbers and strings only") from exc
    # The temp file is created 0600: keep the manifest's mode, or another user's server can no longer read it.
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=".manifest.", delete=False)  # noqa: SIM115 - closed below; unlinked on failure
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
