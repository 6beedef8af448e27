"""Read (and verify) a bundle's ``manifest.json`` into frozen records; rewrite its measured tables atomically.

This module is the definition of what a valid bundle is (docs/DESIGN.md#bundle): the exporter writes the format, the
runtime and the C++ library read it by these rules. Every failure is one ``BundleError`` line naming the bundle, the
problem and the fix, because a half-valid bundle that loads and then fails on the first request is worse than one
that refuses to load.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from acc.profiles import BundleError, EncoderShape, PolicyError, Profile, ProfileError

from .integrity import (
    MANIFEST_NAME,
    check_files,
    check_references,
    read_manifest_bytes,
    read_verified,
)
from .integrity import REEXPORT as _REEXPORT
from .manifest_rules import check_model_card, parse_strict

BUNDLE_FORMAT = "acc-bundle"
SUPPORTED_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelCard:
    """What the graphs compute: architecture numbers, label names and the inputs the graphs take."""

    name: str
    source: str
    architecture: str
    num_layers: int
    hidden_size: int
    num_heads: int
    intermediate_size: int
    labels: tuple[str, ...]
    max_length: int
    inputs: tuple[str, ...]

    @property
    def shape(self) -> EncoderShape:
        """The FLOPs-model view of the encoder, used to offline-tune ad-hoc profiles for the adjustable graph."""
        return EncoderShape(self.num_layers, self.hidden_size, self.intermediate_size, self.num_heads)


@dataclass(frozen=True)
class FileEntry:
    """Content identity of one bundle file."""

    sha256: str
    bytes: int


@dataclass(frozen=True)
class ProfileEntry:
    """One shipped profile and the graph that runs it."""

    name: str
    graph: str
    profile: Profile

    @property
    def target_speedup(self) -> float:
        return self.profile.target_speedup


@dataclass(frozen=True)
class AdjustableEntry:
    """The graph whose keep ratios are an input (``input``: float[num_layers]), so any speedup can run."""

    graph: str
    input: str


@dataclass(frozen=True)
class EngineEntry:
    """A prebuilt engine, keyed by (profile, backend, compute capability, precision)."""

    profile: str
    backend: str
    compute_capability: str
    precision: str
    file: str
    trt_version: str | None = None


@dataclass(frozen=True)
class AccuracyRow:
    """Accuracy of one profile on one data set; agreement and diff are against the dense PyTorch model."""

    profile: str
    dataset: str
    examples: int
    accuracy: float
    label_agreement: float | None = None
    max_abs_diff: float | None = None


@dataclass(frozen=True)
class LatencyRow:
    """Measured latency of one profile at one (backend, device, batch, seq) point, in milliseconds."""

    profile: str
    backend: str
    device: str
    batch: int
    seq: int
    p50_ms: float
    p99_ms: float
    threads: int | None = None


@dataclass(frozen=True)
class Tables:
    """The measured tables the policy decides from."""

    accuracy: tuple[AccuracyRow, ...] = ()
    latency: tuple[LatencyRow, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """A parsed ``manifest.json``. ``bundle_dir`` resolves the relative paths; the dict fields are copies."""

    bundle_dir: Path
    format_version: int
    created_utc: str
    versions: dict[str, Any]
    model: ModelCard
    tokenizer: str
    files: dict[str, FileEntry]
    profiles: tuple[ProfileEntry, ...]
    adjustable: AdjustableEntry | None
    engines: tuple[EngineEntry, ...]
    tables: Tables
    validation: dict[str, Any]
    allow_mismatch: bool
    graph_format: dict[str, Any] = field(default_factory=dict)  # opset, inline, attention form, TokenSelect version
    precisions: dict[str, Any] = field(default_factory=dict)  # fp16 variants: files, validation, default per device
    digest: str = ""  # the bundle's identity: "sha256:" + sha256 of manifest.json's bytes (see bundle_digest)

    @property
    def profile_names(self) -> list[str]:
        return [entry.name for entry in self.profiles]

    def profile(self, name: str) -> ProfileEntry:
        """The entry called ``name``; a ``PolicyError`` listing the shipped names when there is none."""
        for entry in self.profiles:
            if entry.name == name:
                return entry
        raise PolicyError(f"bundle {self.bundle_dir} has no profile {name!r}; choose one of {self.profile_names}")

    def path(self, relative: str) -> Path:
        """Absolute path of a file named relative to the bundle root."""
        return self.bundle_dir / relative

    def read_file(self, relative: str) -> bytes:
        """The verified bytes of a listed file (size and sha256 checked on the bytes returned); an unlisted file
        is never read."""
        entry = self.files.get(relative)
        if entry is None:
            raise BundleError(f"bundle {self.bundle_dir} needs {relative}, which {MANIFEST_NAME} does not list (it "
                              f"would be read unverified); {_REEXPORT}")  # fmt: skip
        return read_verified(self.bundle_dir, relative, entry)


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
    if version > SUPPORTED_FORMAT_VERSION:
        versions = data.get("versions")
        writer = (versions.get("acc") if isinstance(versions, dict) else None) or "unknown"
        raise BundleError(
            f"bundle {root} has format_version {version}, written by acc-deploy {writer}; this acc-deploy "
            f"{_own_version()} reads format_version <= {SUPPORTED_FORMAT_VERSION}, upgrade acc-deploy"
        )


def _own_version() -> str:
    try:
        return metadata.version("acc-deploy")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _parse(data: dict[str, Any], root: Path, digest: str = "") -> Manifest:
    where = f"{root / MANIFEST_NAME}"
    for key in ("versions", "model", "files", "profiles", "tables"):
        if key not in data:
            raise BundleError(f"{where} lacks key {key!r}; {_REEXPORT}")
    files = {
        _safe_relative(path, where): _file_entry(entry, f"{where} files[{path!r}]")
        for path, entry in _expect(data["files"], dict, f"{where} files").items()
    }
    model = _record(ModelCard, data["model"], f"{where} model")
    check_model_card(model, f"{where} model")
    tables = _expect(data["tables"], dict, f"{where} tables")
    profiles = _list(data, "profiles", where)
    adjustable = data.get("adjustable")
    return Manifest(
        bundle_dir=root,
        format_version=int(data["format_version"]),
        created_utc=str(data.get("created_utc", "")),
        versions=dict(_expect(data["versions"], dict, f"{where} versions")),
        model=model,
        tokenizer=_safe_relative(str(data.get("tokenizer", "tokenizer")), where).rstrip("/"),
        files=files,
        profiles=tuple(_profile_entry(item, f"{where} profiles[{i}]") for i, item in enumerate(profiles)),
        adjustable=None if adjustable is None else _record(AdjustableEntry, adjustable, f"{where} adjustable"),
        engines=_records(EngineEntry, _list(data, "engines", where), f"{where} engines"),
        tables=Tables(
            accuracy=_records(AccuracyRow, _list(tables, "accuracy", where), f"{where} tables.accuracy"),
            latency=_records(LatencyRow, _list(tables, "latency", where), f"{where} tables.latency"),
        ),
        validation=dict(_expect(data.get("validation") or {}, dict, f"{where} validation")),
        allow_mismatch=bool(data.get("allow_mismatch", False)),
        graph_format=dict(_expect(data.get("graph_format") or {}, dict, f"{where} graph_format")),
        precisions=dict(_expect(data.get("precisions") or {}, dict, f"{where} precisions")),
        digest=digest,
    )


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _file_entry(item: Any, where: str) -> FileEntry:
    """A file record whose size can bound a read and whose sha256 can match one (lower-case hex)."""
    entry = _record(FileEntry, item, where)
    if not _SHA256.match(entry.sha256):
        raise BundleError(f"{where}.sha256 = {entry.sha256!r} is not 64 lower-case hex digits; {_REEXPORT}")
    if entry.bytes < 0:
        raise BundleError(f"{where}.bytes = {entry.bytes} is negative; {_REEXPORT}")
    return entry


def _profile_entry(item: Any, where: str) -> ProfileEntry:
    item = _expect(item, dict, where)
    for key in ("name", "graph", "profile"):
        if key not in item:
            raise BundleError(f"{where} lacks key {key!r}; {_REEXPORT}")
    try:
        profile = Profile.from_dict(_expect(item["profile"], dict, f"{where}.profile"))
    except ProfileError as exc:
        raise BundleError(f"{where}.profile is invalid ({exc}); {_REEXPORT}") from exc
    return ProfileEntry(name=str(item["name"]), graph=_safe_relative(str(item["graph"]), where), profile=profile)


_SCALARS = {"str": str, "int": int, "float": float}


def _record(cls: type, data: Any, where: str) -> Any:
    """Build a frozen record from a JSON object: required keys present, scalars coerced, unknown keys ignored.

    Unknown keys are ignored on purpose: a format-1 writer may add optional keys without breaking older readers.
    """
    data = _expect(data, dict, where)
    values: dict[str, Any] = {}
    for spec in fields(cls):
        if spec.name not in data:
            if spec.default is MISSING:
                raise BundleError(f"{where} lacks key {spec.name!r}; {_REEXPORT}")
            continue
        value = data[spec.name]
        kind = str(spec.type).replace(" ", "")
        optional = kind.endswith("|None")
        kind = kind.removesuffix("|None")
        if value is None and optional:
            values[spec.name] = None
        elif kind == "tuple[str,...]":
            values[spec.name] = tuple(str(v) for v in _expect(value, list, f"{where}.{spec.name}"))
        elif kind in _SCALARS and not isinstance(value, (dict, list, bool)):
            try:
                values[spec.name] = _SCALARS[kind](value)
            except (TypeError, ValueError, OverflowError):
                raise BundleError(f"{where}.{spec.name} = {value!r} is not of type {kind}; {_REEXPORT}") from None
        else:
            raise BundleError(f"{where}.{spec.name} = {value!r} is not of type {kind}; {_REEXPORT}")
    return cls(**values)


def _expect(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        raise BundleError(f"{where} is a {type(value).__name__}, expected a JSON {kind.__name__}; {_REEXPORT}")
    return value


def _list(data: dict[str, Any], key: str, where: str) -> list[Any]:
    return _expect(data.get(key) or [], list, f"{where} {key}")


def _records(cls: type, items: list[Any], where: str) -> tuple[Any, ...]:
    return tuple(_record(cls, item, f"{where}[{index}]") for index, item in enumerate(items))


def _safe_relative(path: str, where: str) -> str:
    """Bundle paths are relative POSIX paths inside the bundle; anything else could read files outside it."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise BundleError(f"{where} names path {path!r} outside the bundle; paths must be relative, without '..'")
    return path


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


def _row_dict(cls: type, row: Any, manifest: Manifest, fill: dict[str, str | None]) -> dict[str, Any]:
    """Validate one new row by building its record, so a bad row fails before anything is written."""
    raw = asdict(row) if isinstance(row, cls) else dict(row)
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
    record = _record(cls, raw, f"new {cls.__name__}")
    if record.profile not in manifest.profile_names:
        raise BundleError(
            f"{cls.__name__} names profile {record.profile!r}, not in bundle {manifest.bundle_dir} "
            f"(has {manifest.profile_names}); measure a shipped profile"
        )
    return asdict(record)


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
