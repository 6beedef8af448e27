"""Time every candidate of a benchmark in one process, interleaved, over a (batch, seq) grid.

Why interleaved: on a shared or thermally throttling CPU, timing candidate A for a minute and then B for a minute
folds the machine's drift into the A/B ratio. Here, per (batch, seq) cell, each round times one call of every
candidate, and the starting candidate rotates every round, so drift and "who ran just before me" effects spread
evenly over all candidates. Statistics are the same as ``acc.exporter.latency.measure_latency`` (ms percentiles,
``numpy.percentile`` linear), so numbers compare with the bundle's export-time tables.

Why spinning is off by default: every ORT session owns an intra-op thread pool whose threads spin after a run;
with several sessions taking turns, the previous session's spinning threads steal cores from the next one.
``SessionSettings(spinning=True)`` restores ORT's default for single-model comparisons.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acc.profiles import BundleError, DataError, EncoderShape, theoretical_speedup
from acc.runtime.ort_session import create_session
from acc.runtime.session import BackendError
from acc.runtime.timing import full_length_feeds, measure_interleaved

from ..latency import LatencyStats
from .records import ADJUSTABLE, BASELINE, BUNDLE_DENSE, PROFILE, BenchRow

if TYPE_CHECKING:
    import onnxruntime

    from acc.runtime.bundle_format import Manifest

DENSE_PROFILE = "dense"


@dataclass(frozen=True)
class SessionSettings:
    """ONNX Runtime session options shared by every candidate of a run (recorded in the results)."""

    threads: int
    inter_op_threads: int = 1
    spinning: bool = False
    graph_optimization_level: str = "ORT_ENABLE_ALL"
    execution_mode: str = "ORT_SEQUENTIAL"
    provider: str = "CPUExecutionProvider"

    def session_options(self) -> onnxruntime.SessionOptions:
        import onnxruntime as ort

        from acc.runtime.custom_ops import register as register_custom_ops

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = self.inter_op_threads
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, self.graph_optimization_level)
        options.execution_mode = getattr(ort.ExecutionMode, self.execution_mode)
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        if self.provider == "CUDAExecutionProvider":  # fused-form graphs: the AccScore kernel (CPU: the body)
            register_custom_ops(options, device="cuda")
        return options

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Candidate:
    """One thing to time: a graph file and, for the adjustable graph, the keep ratios fed to it."""

    label: str
    kind: str
    profile: str
    graph: Path
    keep_ratios: tuple[float, ...] | None = None  # None: dense (theoretical speedup 1)
    ratios_input: str | None = None  # adjustable graph: the input fed ``keep_ratios``
    min_keep: int = 1

    def theoretical_speedup(self, shape: EncoderShape, seq: int) -> float:
        """FLOPs-model speedup of this candidate's ratios over dense at ``seq`` full-length tokens."""
        if self.keep_ratios is None:
            return 1.0
        return float(theoretical_speedup(self.keep_ratios, shape, seq, self.min_keep))


def bundle_candidates(manifest: Manifest, baseline_graph: Path) -> list[Candidate]:
    """Baseline, the bundle's dense graph, each profile graph, then the adjustable graph at each profile."""
    dense = [entry for entry in manifest.profiles if _is_dense(entry.profile.keep_ratios)]
    if not dense:
        raise BundleError(
            f"bundle {manifest.bundle_dir} has no dense profile (all keep ratios 1.0) to compare "
            "against; re-export it with acc-export (dense is always written)"
        )
    candidates = [Candidate("baseline", BASELINE, DENSE_PROFILE, Path(baseline_graph))]
    candidates.append(Candidate(dense[0].name, BUNDLE_DENSE, dense[0].name, manifest.path(dense[0].graph)))
    pruned = [entry for entry in manifest.profiles if entry is not dense[0]]
    for entry in pruned:
        candidates.append(
            Candidate(
                entry.name,
                PROFILE,
                entry.name,
                manifest.path(entry.graph),
                entry.profile.keep_ratios,
                None,
                entry.profile.min_keep,
            )
        )
    if manifest.adjustable is not None:
        graph = manifest.path(manifest.adjustable.graph)
        for entry in pruned:
            candidates.append(
                Candidate(
                    f"adjustable@{entry.name}",
                    ADJUSTABLE,
                    entry.name,
                    graph,
                    entry.profile.keep_ratios,
                    manifest.adjustable.input,
                    entry.profile.min_keep,
                )
            )
    return candidates


def latency_stats(samples_ms: Sequence[float], warmup: int) -> LatencyStats:
    """Percentiles exactly as ``acc.exporter.latency.measure_latency`` computes them."""

    return LatencyStats.from_samples(samples_ms, warmup)


def paired_speedup(reference_ms: Sequence[float], candidate_ms: Sequence[float]) -> float:
    """Median over rounds of ``reference[r] / candidate[r]``.

    Both samples of a round were taken moments apart, so slow drift of the machine (another job starting, clock
    changes) cancels in each ratio; on a busy host this is steadier than the ratio of the two p50s.
    """
    if len(reference_ms) != len(candidate_ms) or not reference_ms:
        raise DataError(
            f"paired speedup needs equal, non-empty sample lists, got {len(reference_ms)} and "
            f"{len(candidate_ms)}; time both with measure_interleaved"
        )
    return float(np.median(np.asarray(reference_ms) / np.asarray(candidate_ms)))


def measure_grid(
    candidates: Sequence[Candidate],
    shape: EncoderShape,
    settings: SessionSettings,
    batches: Sequence[int],
    seqs: Sequence[int],
    *,
    context: Mapping[str, Any],
    vocab_size: int = 30522,
    warmup: int = 3,
    iters: int = 20,
    max_seconds_per_cell: float | None = None,
    progress: bool = True,
) -> list[BenchRow]:
    """Every candidate at every (batch, seq), full-length inputs; rows with speedups computed inside the run.

    ``context`` fills the per-row context fields (model, backend, device, compute_capability, precision and the
    ``*_version`` fields). One session per graph file, all created with ``settings`` before anything is timed.
    """
    sessions = _sessions(candidates, settings)
    cells = [(batch, seq) for batch in batches for seq in seqs]
    bar = _bar(len(cells), progress)
    rows: list[BenchRow] = []
    try:
        for batch, seq in cells:
            feeds = full_length_feeds(batch, seq, vocab_size)
            runs = {c.label: _runner(sessions[c.graph], c, feeds) for c in candidates}
            if bar is not None:
                bar.set_postfix_str(f"b{batch} s{seq}", refresh=False)
            samples = measure_interleaved(
                runs,
                warmup,
                iters,
                max_seconds_per_cell,
                on_round=(lambda r, b=batch, s=seq: bar.set_postfix_str(f"b{b} s{s} round {r}", refresh=False))
                if bar
                else None,
            )
            rows += _cell_rows(candidates, samples, warmup, shape, batch, seq, settings, context)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return rows


def _cell_rows(candidates, samples, warmup, shape, batch, seq, settings, context) -> list[BenchRow]:  # noqa: ANN001
    stats = {label: latency_stats(values, warmup) for label, values in samples.items()}
    baseline = next(c for c in candidates if c.kind == BASELINE)
    bundle_dense = next(c for c in candidates if c.kind == BUNDLE_DENSE)
    base_ms, bundle_dense_ms = stats[baseline.label].p50_ms, stats[bundle_dense.label].p50_ms
    rows = []
    for candidate in candidates:
        s = stats[candidate.label]
        theory = candidate.theoretical_speedup(shape, seq)
        speedup = base_ms / s.p50_ms
        rows.append(BenchRow(
            model=str(context["model"]), candidate=candidate.label, kind=candidate.kind, profile=candidate.profile,
            backend=str(context["backend"]), device=str(context["device"]),
            compute_capability=context.get("compute_capability"), precision=str(context["precision"]),
            threads=settings.threads, batch=batch, seq=seq, warmup=s.warmup, iters=s.iters,
            p50_ms=s.p50_ms, p90_ms=s.p90_ms, p99_ms=s.p99_ms, mean_ms=s.mean_ms,
            throughput_seqs_per_s=batch * 1e3 / s.p50_ms,
            speedup_vs_dense=speedup, speedup_vs_bundle_dense=bundle_dense_ms / s.p50_ms,
            speedup_vs_dense_paired=paired_speedup(samples[baseline.label], samples[candidate.label]),
            theoretical_speedup=theory, measured_over_theoretical=speedup / theory,
            acc_version=context.get("acc_version"), onnx_version=context.get("onnx_version"),
            ort_version=context.get("ort_version"), trt_version=context.get("trt_version"),
        ))  # fmt: skip
    return rows


def _sessions(candidates: Sequence[Candidate], settings: SessionSettings) -> dict[Path, Any]:
    """One session per graph file, made by the runtime's session factory with the run's recorded options."""
    device = "cuda" if settings.provider == "CUDAExecutionProvider" else "cpu"
    sessions: dict[Path, Any] = {}
    for candidate in candidates:
        if candidate.graph not in sessions:
            sessions[candidate.graph] = create_session(candidate.graph, device=device,
                                                       options=settings.session_options())  # fmt: skip
    return sessions


def _runner(session: Any, candidate: Candidate, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
    """A no-argument call of one candidate: only the inputs its graph declares, only ``logits`` fetched."""
    wanted = [node.name for node in session.get_inputs()]
    own = {name: feeds[name] for name in wanted if name in feeds}
    if candidate.ratios_input is not None:
        own[candidate.ratios_input] = np.asarray(candidate.keep_ratios, dtype=np.float32)
    missing = [name for name in wanted if name not in own]
    if missing:
        raise DataError(
            f"graph {candidate.graph.name} ({candidate.label}) takes inputs {missing} that acc-bench "
            "does not know how to feed; benchmark BERT-family bundles written by acc-export"
        )
    shapes = {name: tuple(value.shape) for name, value in own.items()}

    def run() -> object:
        try:
            return session.run(["logits"], own)
        except Exception as exc:  # noqa: BLE001 - ORT's pybind errors do not share a useful base class
            line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:240]
            raise BackendError(
                f"{candidate.label} ({candidate.graph.name}) failed on inputs {shapes} ({line}); "
                "drop that shape from --batches/--seqs or re-export the bundle"
            ) from exc

    return run


def _is_dense(ratios: Sequence[float]) -> bool:
    return all(ratio == 1.0 for ratio in ratios)


def _bar(total: int, enabled: bool):  # noqa: ANN202
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="acc-bench", unit="cell", leave=False)
