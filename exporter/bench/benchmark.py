"""``run_benchmark``: bundle (or a random BERT-base) → dense baseline → interleaved timing → results files.

One process, one ORT version, one set of session options and the same inputs for every candidate: the optimized
dense baseline, the bundle's own dense graph, each profile graph and the adjustable graph at each profile's
ratios (docs/DESIGN.md#measuring). Speedups are computed inside the run, never across runs.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from acc.profiles import BundleError
from acc.runtime.timing_options import BenchOptions

from .measure import SessionSettings, bundle_candidates, measure_grid
from .random_model import RANDOM_BERT_BASE_NAME, random_bert_checkpoint
from .records import BenchReport, ResultFiles, iso_utc, results_stem, utc_now, write_json_new

BACKEND = "ort-cpu"
PRECISION = "fp32"
ORDER = (
    "interleaved: per (batch, seq) cell, warm-up rounds then timed rounds; each round runs every candidate "
    "once, starting one candidate later than the round before"
)
INPUTS = "full length (attention_mask all ones), random token ids in [1000, 30000), seed 0, token_type_ids 0"
LATENCY_ONLY_NOTE = "random-initialised weights (seed 0): latency only, accuracy is meaningless"
_VERSIONED = {"acc": "acc-deploy", "onnx": "onnx", "onnxruntime": "onnxruntime", "tensorrt": "tensorrt",
              "torch": "torch", "transformers": "transformers", "numpy": "numpy"}  # fmt: skip


@dataclass(frozen=True)
class BenchResult:
    """A finished run: the report (as written to JSON) and its three files."""

    report: BenchReport
    files: ResultFiles


def run_benchmark(options: BenchOptions, progress: Callable[[str], None] | None = None) -> BenchResult:
    """Measure, then write ``<output_dir>/<name>_<UTC>.json`` and render ``.md`` and ``.png`` from that JSON."""
    say = progress or (lambda message: None)
    options.check()
    started = utc_now()
    with _work_dir(options.work_dir) as work:
        if options.random_bert_base:
            bundle, source, extra = _random_bundle(options, work, say)
        else:
            bundle, source, extra = (
                Path(options.bundle),
                options.source,
                {"latency_only": False, "weights": "checkpoint"},
            )
        report = benchmark_bundle(
            bundle, work / "baseline", options, source=source, started=started, extra_metadata=extra, progress=say
        )
    files = write_results(report, options.output_dir)
    return BenchResult(report, files)


def benchmark_bundle(
    bundle_dir: str | os.PathLike[str],
    baseline_dir: str | os.PathLike[str],
    options: BenchOptions,
    *,
    source: str | os.PathLike[str] | None = None,
    started: datetime | None = None,
    extra_metadata: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Verify the bundle, build its dense baseline in ``baseline_dir`` and time every candidate; writes nothing else."""
    from acc.exporter.dense_baseline import export_dense_baseline
    from acc.modeling.checkpoint import source_checkpoint
    from acc.profiles import ModelError
    from acc.runtime import cpu_name, read_manifest

    say = progress or (lambda message: None)
    started = started or utc_now()
    say(f"verifying bundle {bundle_dir}")
    manifest = read_manifest(bundle_dir, verify=True)
    card = manifest.model
    too_long = [seq for seq in options.seqs if seq > card.max_length]
    if too_long:
        raise BundleError(
            f"--seqs {too_long} exceed the model's max_length {card.max_length}; pass lengths <= {card.max_length}"
        )
    try:
        checkpoint = source_checkpoint(card.source, source, "--source")
    except ModelError as exc:
        raise BundleError(str(exc)) from None
    say(f"building the dense baseline from {checkpoint}")
    baseline = export_dense_baseline(
        checkpoint, baseline_dir, atol=options.baseline_atol, require_fused_attention=not options.allow_unfused_baseline
    )
    if (baseline.hidden_size, baseline.num_heads) != (card.hidden_size, card.num_heads):
        raise BundleError(
            f"checkpoint {checkpoint} is {baseline.hidden_size} wide with {baseline.num_heads} heads, "
            f"bundle {bundle_dir} is {card.hidden_size}/{card.num_heads}; pass --source with its checkpoint"
        )
    candidates = bundle_candidates(manifest, baseline.path)
    settings = SessionSettings(threads=options.resolved_threads(), spinning=options.spinning)
    versions = _versions()
    device = cpu_name()
    context = {"model": card.name, "backend": BACKEND, "device": device, "compute_capability": None,
               "precision": PRECISION, "acc_version": versions["acc"], "onnx_version": versions["onnx"],
               "ort_version": versions["onnxruntime"], "trt_version": versions["tensorrt"]}  # fmt: skip
    say(
        f"timing {len(candidates)} candidates on {len(options.batches) * len(options.seqs)} cells ({device}, "
        f"{settings.threads} threads)"
    )
    rows = measure_grid(
        candidates,
        card.shape,
        settings,
        options.batches,
        options.seqs,
        context=context,
        vocab_size=baseline.vocab_size,
        warmup=options.warmup,
        iters=options.iters,
        max_seconds_per_cell=options.max_seconds_per_cell,
        progress=options.progress,
    )
    metadata_ = {
        "model": {"name": card.name, "source": checkpoint, "architecture": card.architecture,
                  "num_layers": card.num_layers, "hidden_size": card.hidden_size, "num_heads": card.num_heads,
                  "intermediate_size": card.intermediate_size, "max_length": card.max_length},
        "latency_only": False,
        "weights": "checkpoint",
        **(extra_metadata or {}),
        "bundle": {"path": str(manifest.bundle_dir), "created_utc": manifest.created_utc,
                   "format_version": manifest.format_version, "versions": manifest.versions,
                   "profiles": [{"name": e.name, "graph": e.graph, "target_speedup": e.profile.target_speedup,
                                 "reference_length": e.profile.reference_length,
                                 "theoretical_speedup": e.profile.theoretical_speedup,
                                 "keep_ratios": list(e.profile.keep_ratios), "min_keep": e.profile.min_keep}
                                for e in manifest.profiles],
                   "adjustable": manifest.adjustable is not None},
        "baseline": {**baseline.to_dict(), "path": str(baseline.path) if options.work_dir else None,
                     "graph": baseline.path.name},
        "candidates": [{"label": c.label, "kind": c.kind, "profile": c.profile, "graph": c.graph.name}
                       for c in candidates],
        "session": {**settings.to_dict(), "outputs_fetched": ["logits"], "one_session_per_graph_file": True},
        "grid": {"batches": list(options.batches), "seqs": list(options.seqs), "warmup": options.warmup,
                 "iters": options.iters, "max_seconds_per_cell": options.max_seconds_per_cell, "inputs": INPUTS},
        "order": ORDER,
        "host": {"device": device, "backend": BACKEND, "precision": PRECISION, "cpu_count": os.cpu_count(),
                 "threads": settings.threads, "platform": platform.platform(), "python": sys.version.split()[0]},
        "versions": versions,
        "options": options.to_dict(),
        "finished_utc": iso_utc(utc_now()),
    }  # fmt: skip
    return BenchReport(
        name=options.name or results_name(card.name), created_utc=iso_utc(started), metadata=metadata_, rows=tuple(rows)
    )


def write_results(report: BenchReport, output_dir: str | os.PathLike[str]) -> ResultFiles:
    """Write the JSON (new file, never overwritten), then render ``.md`` and ``.png`` from the file just written."""
    from .render import render_files

    moment = datetime.strptime(report.created_utc, "%Y-%m-%dT%H:%M:%SZ")
    files = ResultFiles.for_stem(results_stem(Path(output_dir), report.name, moment))
    write_json_new(report, files.json)
    return render_files(files.json)


def results_name(model_name: str) -> str:
    """``cpu-<model>`` with anything but letters, digits, ``.``, ``_`` and ``-`` replaced (file-name safe)."""
    return "cpu-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", model_name).strip("-") or "model")


def _random_bundle(options: BenchOptions, work: Path, say: Callable[[str], None]) -> tuple[Path, Path, dict[str, Any]]:
    """Random BERT-base checkpoint + its bundle under ``work`` (validated on a few SST-2 examples, no timing)."""
    from acc.exporter import ExportOptions, main_export

    say("building a random-initialised BERT-base checkpoint (seed 0)")
    checkpoint = random_bert_checkpoint(work / RANDOM_BERT_BASE_NAME)
    say("exporting its bundle (validated on 16 SST-2 dev examples, no latency table)")
    export = ExportOptions(
        model=str(checkpoint),
        speedups=options.speedups,
        output=work / "bundle",
        max_examples=16,
        validate_grid="none",
        bench=False,
        progress=options.progress,
    )
    result = main_export(export, progress=say)
    extra = {"latency_only": True, "weights": LATENCY_ONLY_NOTE,
             "random_model": {"shape": "BERT-base 12x768, 12 heads, ffn 3072", "seed": 0,
                              "tokenizer": "shipped all-MiniLM-L6-v2 WordPiece (uncased, 30522)",
                              "export_validation": "16 SST-2 dev examples, validate_grid none"}}  # fmt: skip
    return result.bundle, checkpoint, extra


@contextmanager
def _work_dir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    temp = Path(tempfile.mkdtemp(prefix="acc-bench-"))
    try:
        yield temp
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for key, distribution in _VERSIONED.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[key] = None
    return versions
