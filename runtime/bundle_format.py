"""The bundle format: ``manifest.json`` as typed, frozen records with ``to_json`` / ``from_json``.

One definition for every party: the exporter writes a manifest by building these records (strictly: a key the
format does not define is a writer bug and fails the export), the runtime reads one into the same records (leniently:
a key a newer format-1 writer added is ignored, never fatal), and the test suite's C++ reference writer builds its
fake bundles from them. Why records and not dicts: a field renamed on one side only used to surface as a ``KeyError``
on the first request; now both sides share the names, types and defaults, and a round trip
``from_json(to_json(x)) == x`` is tested.

Sections a model family owns (the causal decode step, the seq2seq decoder, AOTInductor packages) and the measured
sub-documents (``validation``, ``precisions``, ``graph_format``) stay JSON objects inside the records: their
readers check them where they use them. Reading from disk, digests and table updates live in
``acc.runtime.manifest``; the C++ reader applies the value rules of ``acc.runtime.manifest_rules``.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, TypeVar

from acc.profiles import BundleError, EncoderShape, PolicyError, Profile, ProfileError

from .integrity import MANIFEST_NAME, read_verified
from .integrity import REEXPORT as _REEXPORT
from .manifest_rules import check_model_card

BUNDLE_FORMAT = "acc-bundle"
FORMAT_VERSION = 1  # the version this code writes and the newest it reads
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SCALARS: dict[type, type] = {str: str, int: int, float: float}
R = TypeVar("R", bound="JsonRecord")


# Field metadata. PATH: a bundle-relative path, checked to stay inside the bundle. EXTRA: the catch-all of an open
# record (the keys a family adds, kept in order, written back flat). LOCAL: in-memory only, not a manifest key.
PATH = {"path": True}
EXTRA = {"extra": True}
LOCAL = {"local": True}


class JsonRecord:
    """A frozen dataclass that reads itself from a JSON object and writes itself back.

    ``strict=True`` (the writer) refuses keys the record does not define, unless it has an ``EXTRA`` field;
    ``strict=False`` (the reader) ignores them, so a format-1 writer may add optional keys without breaking older
    readers. ``_SEP`` joins a record's location to its field names in error messages (``model.num_layers``).
    """

    _SEP: ClassVar[str] = "."

    @classmethod
    def from_json(cls: type[R], data: Any, where: str, *, strict: bool = False) -> R:
        data = _expect(data, dict, where)
        values: dict[str, Any] = {}
        extra = None
        for spec in dataclasses.fields(cls):  # type: ignore[arg-type]
            if spec.metadata.get("local"):
                continue
            if spec.metadata.get("extra"):
                extra = spec.name
                continue
            required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            if spec.name not in data or (data[spec.name] is None and not required):
                if required:
                    raise BundleError(f"{where} lacks key {spec.name!r}; {_REEXPORT}")
                continue  # absent, or null where the format has a default: the default
            values[spec.name] = _decode(_hints(cls)[spec.name], data[spec.name], f"{where}{cls._SEP}{spec.name}",
                                        strict, path=bool(spec.metadata.get("path")))  # fmt: skip
        unknown = {key: value for key, value in data.items() if key not in _json_names(cls)}
        if extra is not None:
            values[extra] = dict(unknown)
        elif strict and unknown:
            raise BundleError(f"{where} has keys {sorted(unknown)} that the bundle format does not define; add them "
                              f"to {cls.__name__} in acc/runtime/bundle_format.py or remove them")  # fmt: skip
        record = cls(**values)
        record.check(where)
        return record

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(self):  # type: ignore[arg-type]
            if spec.metadata.get("local"):
                continue
            value = _encode(getattr(self, spec.name))
            if spec.metadata.get("extra"):
                out.update(value)
            else:
                out[spec.name] = value
        return out

    def check(self, where: str) -> None:
        """Rules across fields or beyond types; a record that breaks one is refused, read or written."""


@dataclass(frozen=True)
class ModelCard(JsonRecord):
    """What the graphs compute: architecture numbers, label names and the inputs the graphs take.

    ``family`` is None for encoder classifiers (the first format-1 bundles had no such key); ``extra`` holds the
    family's own card entries (vocab size, special token ids, the checkpoint's accuracy ...).
    """

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
    family: str | None = None
    min_keep: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, metadata=EXTRA)

    @property
    def shape(self) -> EncoderShape:
        """The FLOPs-model view of the encoder, used to offline-tune ad-hoc profiles for the adjustable graph."""
        return EncoderShape(self.num_layers, self.hidden_size, self.intermediate_size, self.num_heads)

    def check(self, where: str) -> None:
        check_model_card(self, where)


@dataclass(frozen=True)
class FileEntry(JsonRecord):
    """Content identity of one bundle file: what bounds a read and what the bytes read must hash to."""

    sha256: str
    bytes: int

    def check(self, where: str) -> None:
        if not _SHA256.match(self.sha256):
            raise BundleError(f"{where}.sha256 = {self.sha256!r} is not 64 lower-case hex digits; {_REEXPORT}")
        if self.bytes < 0:
            raise BundleError(f"{where}.bytes = {self.bytes} is negative; {_REEXPORT}")


@dataclass(frozen=True)
class ProfileEntry(JsonRecord):
    """One shipped profile and the graph that runs it (``token_select_nodes``: pruned layers left as calls)."""

    name: str
    graph: str = field(metadata=PATH)
    profile: Profile = field()
    token_select_nodes: int | None = None

    @property
    def target_speedup(self) -> float:
        return self.profile.target_speedup


@dataclass(frozen=True)
class AdjustableEntry(JsonRecord):
    """The graph whose keep ratios are an input (``input``: float[num_layers]), so any speedup can run."""

    graph: str = field(metadata=PATH)
    input: str


@dataclass(frozen=True)
class EngineEntry(JsonRecord):
    """A prebuilt engine, keyed by (profile, backend, compute capability, precision).

    ``shapes`` (the optimisation-profile ranges it was built for), ``build_seconds`` and ``network_layers`` describe
    the build; the runtime reads only the key, the file and the TensorRT version.
    """

    profile: str
    backend: str
    compute_capability: str
    precision: str
    file: str = field(metadata=PATH)
    trt_version: str | None = None
    shapes: dict[str, Any] | None = None
    build_seconds: float | None = None
    network_layers: int | None = None


@dataclass(frozen=True)
class AccuracyRow(JsonRecord):
    """Accuracy of one profile on one data set; agreement and diff are against the dense PyTorch model."""

    profile: str
    dataset: str
    examples: int
    accuracy: float
    label_agreement: float | None = None
    max_abs_diff: float | None = None
    graph: str | None = None
    torch_accuracy: float | None = None


@dataclass(frozen=True)
class LatencyRow(JsonRecord):
    """Measured latency of one profile at one (backend, device, batch, seq) point, in milliseconds."""

    profile: str
    backend: str
    device: str
    batch: int
    seq: int
    p50_ms: float
    p99_ms: float
    threads: int | None = None
    graph: str | None = None  # the graph timed (the profile's, or the adjustable graph at that profile)
    p90_ms: float | None = None
    iters: int | None = None


@dataclass(frozen=True)
class Tables(JsonRecord):
    """The measured tables the policy decides from; ``extra``: a family's own tables (causal decode latency)."""

    accuracy: tuple[AccuracyRow, ...] = ()
    latency: tuple[LatencyRow, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, metadata=EXTRA)


@dataclass(frozen=True)
class BundleManifest(JsonRecord):
    """The whole ``manifest.json`` document. ``sections``: top-level sections a family owns (``decode``,
    ``seq2seq``, ``aoti``), kept as JSON objects and written back flat."""

    _SEP: ClassVar[str] = " "

    versions: dict[str, Any]
    model: ModelCard
    files: dict[str, FileEntry]
    profiles: tuple[ProfileEntry, ...]
    tables: Tables
    format_version: int = FORMAT_VERSION
    created_utc: str = ""
    tokenizer: str = field(default="tokenizer", metadata=PATH)
    adjustable: AdjustableEntry | None = None
    engines: tuple[EngineEntry, ...] = ()
    validation: dict[str, Any] = field(default_factory=dict)
    allow_mismatch: bool = False
    graph_format: dict[str, Any] = field(default_factory=dict)  # opset, inline, attention form, TokenSelect version
    precisions: dict[str, Any] = field(default_factory=dict)  # fp16 variants: files, validation, default per device
    sections: dict[str, Any] = field(default_factory=dict, metadata=EXTRA)

    @classmethod
    def from_json(cls: type[R], data: Any, where: str, *, strict: bool = False) -> R:
        data = {key: value for key, value in _expect(data, dict, where).items() if key != "format"}
        record = super().from_json(data, where, strict=strict)
        return dataclasses.replace(record, tokenizer=record.tokenizer.rstrip("/"))  # "tokenizer/" names the same dir

    def to_json(self) -> dict[str, Any]:
        return {"format": BUNDLE_FORMAT, **super().to_json()}

    @property
    def profile_names(self) -> list[str]:
        return [entry.name for entry in self.profiles]


@dataclass(frozen=True)
class Manifest(BundleManifest):
    """A read ``manifest.json`` and where it was read from: ``bundle_dir`` resolves the relative paths, ``digest``
    (``"sha256:"`` + the manifest bytes' sha256) is the bundle's identity (``acc.runtime.manifest.bundle_digest``)."""

    bundle_dir: Path = field(default_factory=Path, metadata=LOCAL)
    digest: str = field(default="", metadata=LOCAL)

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


# ---------------------------------------------------------------------------------------------------- the codec


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _json_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls) if not f.metadata.get("local"))


def _decode(kind: Any, value: Any, where: str, strict: bool, path: bool = False) -> Any:
    """``value`` as ``kind`` (a field's type); scalars are coerced as format-1 readers always did."""
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType):  # X | None
        if value is None:
            return None
        kind = next(arg for arg in args if arg is not type(None))
        args = typing.get_args(kind)
    origin = typing.get_origin(kind)
    if isinstance(kind, type) and issubclass(kind, JsonRecord):
        return kind.from_json(value, where, strict=strict)
    if kind is Profile:
        try:
            return Profile.from_dict(_expect(value, dict, where))
        except ProfileError as exc:
            raise BundleError(f"{where} is invalid ({exc}); {_REEXPORT}") from exc
    if origin is tuple:
        items = _expect(value, list, where)
        if args[0] is str:
            return tuple(str(item) for item in items)
        return tuple(_decode(args[0], item, f"{where}[{i}]", strict) for i, item in enumerate(items))
    if origin is dict:
        items = _expect(value, dict, where)
        if args[1] is Any:
            return dict(items)
        return {_safe_relative(key, where): _decode(args[1], item, f"{where}[{key!r}]", strict)
                for key, item in items.items()}  # fmt: skip
    if kind is bool:
        if not isinstance(value, bool):
            raise BundleError(f"{where} = {value!r} is not of type bool; {_REEXPORT}")
        return value
    if kind in _SCALARS and not isinstance(value, (dict, list, bool)):
        try:
            decoded = _SCALARS[kind](value)
        except (TypeError, ValueError, OverflowError):
            raise BundleError(f"{where} = {value!r} is not of type {kind.__name__}; {_REEXPORT}") from None
        return _safe_relative(decoded, where) if path else decoded
    name = getattr(kind, "__name__", str(kind))
    raise BundleError(f"{where} = {value!r} is not of type {name}; {_REEXPORT}")


def _encode(value: Any) -> Any:
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, Profile):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _encode(item) for key, item in value.items()}
    return value


def _expect(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind):
        raise BundleError(f"{where} is a {type(value).__name__}, expected a JSON {kind.__name__}; {_REEXPORT}")
    return value


def _safe_relative(path: str, where: str) -> str:
    """Bundle paths are relative POSIX paths inside the bundle; anything else could read files outside it."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise BundleError(f"{where} names path {path!r} outside the bundle; paths must be relative, without '..'")
    return path
