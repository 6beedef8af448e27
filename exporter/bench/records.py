"""Benchmark records and the results file: ``BenchRow`` (one candidate at one shape), ``BenchReport`` (one run).

The JSON file is the source of truth (docs/DESIGN.md#measuring): numbers are stored as numbers, every row carries its
context (versions, device, backend, precision, threads, warmup, iters), and ``schema_version`` says how to read it.
The Markdown and PNG beside it are rendered only from this file (``acc.exporter.bench.render``). Files are created
new for every run (exclusive create), never appended to or overwritten.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acc.profiles import DataError

SCHEMA_VERSION = 1
RESULTS_KIND = "acc-bench"

# Candidate kinds, in the order tables list them.
BASELINE = "baseline"  # torch.onnx + ORT transformer optimizer, the dense model a user would otherwise deploy
BUNDLE_DENSE = "bundle-dense"  # the bundle's own dense graph (keep ratios all 1.0)
PROFILE = "profile"  # a shipped profile's fixed graph
ADJUSTABLE = "adjustable"  # the adjustable graph fed one profile's keep ratios
KINDS = (BASELINE, BUNDLE_DENSE, PROFILE, ADJUSTABLE)


@dataclass(frozen=True)
class BenchRow:
    """Latency of one candidate at one (batch, seq), with the context it was measured in. Times in ms.

    ``speedup_vs_dense`` is against the optimized dense baseline measured in the same run (same process, session
    options and inputs); ``speedup_vs_bundle_dense`` against the bundle's own dense graph. ``theoretical_speedup``
    is the FLOPs-model speedup of the profile at this ``seq`` (1.0 for dense candidates), and
    ``measured_over_theoretical`` = ``speedup_vs_dense / theoretical_speedup``. ``speedup_vs_dense_paired`` is the
    median of per-round ratios (candidates are timed interleaved), steadier than the p50 ratio on a busy host.
    """

    model: str
    candidate: str  # e.g. "baseline", "dense", "s3", "adjustable@s3"
    kind: str  # one of KINDS
    profile: str  # profile whose keep ratios ran ("dense" for the dense candidates)
    backend: str  # "ort-cpu"
    device: str
    compute_capability: str | None  # None on CPU
    precision: str  # "fp32"
    threads: int
    batch: int
    seq: int
    warmup: int
    iters: int  # timed calls actually made (the per-cell time budget may stop before the requested count)
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    throughput_seqs_per_s: float  # batch / p50
    speedup_vs_dense: float
    speedup_vs_bundle_dense: float
    speedup_vs_dense_paired: float  # median over rounds of baseline[r] / candidate[r] (drift-robust)
    theoretical_speedup: float
    measured_over_theoretical: float
    acc_version: str | None
    onnx_version: str | None
    ort_version: str | None
    trt_version: str | None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DataError(f"bench row {self.candidate!r} has kind {self.kind!r}; expected one of {KINDS}")
        for name in (
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "mean_ms",
            "throughput_seqs_per_s",
            "speedup_vs_dense",
            "speedup_vs_bundle_dense",
            "speedup_vs_dense_paired",
            "theoretical_speedup",
            "measured_over_theoretical",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise DataError(
                    f"bench row {self.candidate!r} b={self.batch} s={self.seq}: {name}={value!r} "
                    "is not a finite number; re-run acc-bench"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "bench row") -> BenchRow:
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data))
        if missing:
            raise DataError(f"{where} lacks {missing}; the file is damaged or from another tool, re-run acc-bench")
        return cls(**{name: data[name] for name in names})


@dataclass(frozen=True)
class BenchReport:
    """One acc-bench run: its name (``cpu-<model>``), UTC time, context shared by all rows, and the rows.

    ``metadata`` holds what is not per row: the bundle, the baseline (method, fused-op counts, validation), session
    options, the requested grid, the measurement order, and the ``latency_only`` flag of random-weight runs.
    """

    name: str
    created_utc: str  # ISO 8601, e.g. 2025-01-31T12:00:00Z
    metadata: dict[str, Any]
    rows: tuple[BenchRow, ...]
    schema_version: int = SCHEMA_VERSION
    kind: str = RESULTS_KIND

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "kind": self.kind,
            "name": self.name,
            "created_utc": self.created_utc,
            "metadata": self.metadata,
            "rows": [row.to_dict() for row in self.rows],
        }

    def to_json(self) -> str:
        try:
            return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise DataError(f"bench report {self.name} is not plain JSON ({exc}); file a bug") from exc

    @classmethod
    def from_dict(cls, data: Any, where: str = "bench results") -> BenchReport:
        if not isinstance(data, dict) or data.get("kind") != RESULTS_KIND:
            raise DataError(
                f"{where} is not an acc-bench results file (kind {_get(data, 'kind')!r}); "
                "pass a .json written by acc-bench"
            )
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(
                f"{where} has schema_version {version!r}; this acc-deploy reads {SCHEMA_VERSION}, "
                "use the acc-deploy version that wrote it"
            )
        rows = data.get("rows")
        if not isinstance(rows, list) or not isinstance(data.get("metadata"), dict):
            raise DataError(f"{where} lacks a rows list or a metadata object; re-run acc-bench")
        return cls(
            name=str(data.get("name", "")),
            created_utc=str(data.get("created_utc", "")),
            metadata=dict(data["metadata"]),
            rows=tuple(BenchRow.from_dict(row, f"{where} rows[{i}]") for i, row in enumerate(rows)),
            schema_version=version,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BenchReport:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataError(
                f"cannot read bench results {path} ({exc.strerror}); pass a .json written by acc-bench"
            ) from exc
        except json.JSONDecodeError as exc:
            raise DataError(f"bench results {path} is not valid JSON ({exc}); re-run acc-bench") from exc
        return cls.from_dict(data, str(path))

    def rows_for(self, candidate: str) -> list[BenchRow]:
        return [row for row in self.rows if row.candidate == candidate]

    @property
    def candidates(self) -> list[str]:
        """Candidate labels in first-seen order (the run lists baseline, bundle dense, profiles, adjustable)."""
        return list(dict.fromkeys(row.candidate for row in self.rows))

    @property
    def batches(self) -> list[int]:
        return sorted({row.batch for row in self.rows})

    @property
    def seqs(self) -> list[int]:
        return sorted({row.seq for row in self.rows})


@dataclass(frozen=True)
class ResultFiles:
    """The three files of one run; the JSON is the source of truth."""

    json: Path
    markdown: Path
    png: Path

    @classmethod
    def for_stem(cls, stem: Path) -> ResultFiles:
        return cls(stem.with_suffix(".json"), stem.with_suffix(".md"), stem.with_suffix(".png"))

    def as_list(self) -> list[Path]:
        return [self.json, self.markdown, self.png]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def results_stem(output_dir: Path, name: str, moment: datetime) -> Path:
    """``<output_dir>/<name>_<YYYYmmddTHHMMSSZ>`` (no suffix): one new set of files per run."""
    return Path(output_dir) / f"{name}_{moment.strftime('%Y%m%dT%H%M%SZ')}"


def write_json_new(report: BenchReport, path: Path) -> Path:
    """Write ``report`` to a file that must not exist yet (``open(..., "x")``): a run never overwrites another."""
    text = report.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise DataError(
            f"{path} already exists; results are never overwritten, wait a second or pass another --output-dir"
        ) from None
    return path


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None
