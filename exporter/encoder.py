"""``EncoderExport``: BERT-style encoder classifiers (BERT, RoBERTa, DistilBERT, MPNet) through the export pipeline.

One graph per profile plus the adjustable graph, inputs and tolerances from the architecture's ``AccOnnxConfig``
(``config.py``), validated on the model's validation set and a synthetic grid. The only family with every option:
fp16 / int8 variants (``--precision``), the fused attention form, TensorRT engines and Triton repositories.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from acc.modeling.checkpoint import ENCODER_CLASSIFIER
from acc.profiles import ExportError, Profile
from acc.runtime.bundle_format import AccuracyRow, LatencyRow

from .config import AccOnnxConfig, config_for
from .export import ADJUSTABLE_NAME, ExportedGraph, GraphSpec, export_graph
from .family import DENSE_NAME, BuiltGraph, ExportFamily, ort_session, profiles_of, progress_bar
from .latency_table import measure_latency_table
from .token_select import BODY_VERSION as TOKEN_SELECT_BODY_VERSION
from .tokenizer_file import resolve_max_length
from .validate import FAST_GRID, SLOW_GRID, GraphReport, check_reports, measure_graph, sst2_batches, synthetic_batches
from .validation_set import ValidationSet, choose_validation_set


@dataclass
class SummaryRow:
    """One line of the printed summary (and of ``ExportResult.rows``)."""

    profile: str
    target_speedup: float
    theoretical_speedup_64: float
    theoretical_speedup_128: float
    accuracy: float | None  # ONNX on the real validation data, when labelled (T5: greedy answers)
    label_agreement: float  # worst agreement with PyTorch (T5: generated token sequences identical)
    max_abs_diff: float
    index_flip_rate: float
    cpu_speedup: float | None = None  # vs the dense graph, largest latency cell (T5: the encoder graph)


@dataclass
class ExportResult:
    bundle: Path
    rows: list[SummaryRow]
    latency: list[LatencyRow] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    triton: Path | None = None  # the Triton model repository written with --triton
    dataset: str = "sst2-dev"  # what the texts were validated on (validation_set.py); accuracy only with labels
    labelled: bool = True
    family: str = ENCODER_CLASSIFIER


class EncoderExport(ExportFamily):
    """Encoder classifiers: every acc-export option applies."""

    name = ENCODER_CLASSIFIER
    label = "encoder classifier"

    def prepare(self) -> None:
        """With ``--engine trt``: the TensorRT flavour and the GPU are checked before anything is exported."""
        self.engine = _engine_setup(self.options) if self.options.engine else None

    def load(self) -> Any:
        from acc.modeling.checkpoint import load_model

        options = self.options
        self.loaded = loaded = load_model(options.model)
        config = config_for(loaded.model.config)
        max_length = resolve_max_length(options.max_length, config.max_length)
        self.config: AccOnnxConfig = replace(config, max_length=max_length).with_atol(options.atol)
        self.tokenizer, self.max_length = loaded.tokenizer, max_length
        self.data: ValidationSet = choose_validation_set(options, loaded.acc_config, loaded.model.config.num_labels)
        self.latency: list[LatencyRow] = []
        return loaded.model

    def export_graphs(self, profiles: list[Profile], graphs_dir: Path) -> Iterator[BuiltGraph]:
        self.staging = graphs_dir.parent  # where --precision variants are written
        self.graphs: list[ExportedGraph] = []
        for spec in graph_specs(profiles, self.options.adjustable):
            self.say(f"exporting {spec.name}")
            graph = export_graph(self.loaded.model, spec, graphs_dir / f"{spec.name}.onnx", self.config,
                                 attention=self.options.attention)  # fmt: skip
            self.graphs.append(graph)
            yield BuiltGraph(spec.name, graph.path, len(graph.select_layers))

    def validate(self, profiles: list[Profile]) -> list[str]:
        """The fp32 graphs, then their fp16 / int8 variants (``--precision``), against the same PyTorch outputs."""
        options = self.options
        references: dict = {}  # PyTorch outputs, shared by the fp32 graphs and their variants
        self.reports = self._validate(self.graphs, profiles, references)
        failures = check_reports(self.reports, self.config, allow_mismatch=options.allow_mismatch)
        self.precisions = self._precisions(profiles, references)
        return failures

    def time(self, profiles: list[Profile]) -> None:
        self.say("measuring CPU latency")
        runs = []
        for graph in self.graphs:
            for profile in profiles_of(graph.spec.name, graph.spec.adjustable, profiles):
                runs.append(
                    (graph, profile, f"{ADJUSTABLE_NAME}@{profile.name}" if graph.spec.adjustable else graph.spec.name)
                )
        options = self.options
        self.latency = measure_latency_table(runs, self.config, options.bench_batches, options.bench_seqs,
                                             options.bench_iters, options.threads, progress=options.progress)  # fmt: skip

    def model_section(self) -> dict[str, Any]:
        model, config = self.loaded.model, self.config
        shape = model.shape  # family-independent (DistilBERT names these dim / n_heads / hidden_dim)
        return {
            "architecture": config.architecture, "num_layers": model.num_layers, "hidden_size": shape.hidden_size,
            "num_heads": shape.num_heads, "intermediate_size": shape.intermediate_size,
            "labels": list(self.loaded.acc_config.labels), "max_length": config.max_length,
            "inputs": list(config.inputs), "min_keep": model.min_keep,
            "checkpoint_accuracy": self.loaded.acc_config.accuracy,
        }  # fmt: skip

    def sections(self, profiles: list[Profile], failures: list[str]) -> dict[str, Any]:
        data, config, latency = self.data, self.config, self.latency
        accuracy = accuracy_rows(self.reports) if data.labelled else []
        return {
            "tables": {"accuracy": accuracy, "latency": [c.to_json() for c in latency if "@" not in c.graph]},
            "validation": {
                "reports": [r.to_dict() for r in self.reports],
                "atol": config.atol, "min_label_agreement": config.min_label_agreement,
                "grid": self.options.validate_grid, "failures": failures, "dataset": data.name,
                "examples": len(data.examples), "labelled": data.labelled,
                "adjustable_latency": [c.to_json() for c in latency if "@" in c.graph],
            },
        }  # fmt: skip

    def graph_format(self) -> dict[str, Any]:
        return {"attention": self.options.attention, "token_select_version": TOKEN_SELECT_BODY_VERSION}

    def finish(self, staging: Path, fields: dict[str, Any]) -> None:
        """The variants' manifest section (their accepted misses count as --allow-mismatch too), then engines."""
        if self.precisions is not None:
            fields["precisions"] = self.precisions
            gated = [v["failures"] for v in self.precisions["validation"].values() if v["gated"]]
            fields["allow_mismatch"] = bool(fields["allow_mismatch"] or any(gated))
        if self.engine is not None:
            self._add_engines(staging, fields)

    def result(self, bundle: Path, profiles: list[Profile], failures: list[str], triton: Path | None) -> ExportResult:
        rows = summary_rows(profiles, self.reports, self.latency)
        return ExportResult(bundle, rows, self.latency, failures, triton=triton, dataset=self.data.name,
                            labelled=self.data.labelled)  # fmt: skip

    @staticmethod
    def render_summary(result: Any) -> Any:
        from .summary import render_summary

        return render_summary(result)

    def _validate(self, graphs: list[ExportedGraph], profiles: list[Profile], references: dict) -> list[GraphReport]:
        options, config, loaded, data = self.options, self.config, self.loaded, self.data
        grid = [(b, s) for b, s in {"fast": FAST_GRID, "slow": SLOW_GRID, "none": ()}[options.validate_grid]
                if s <= config.max_length]  # fmt: skip
        jobs = [(g, p) for g in graphs for p in profiles_of(g.spec.name, g.spec.adjustable, profiles)]
        reports: list[GraphReport] = []
        sessions: dict[Path, Any] = {}
        with progress_bar(options.progress, len(jobs), "validate") as bar:
            for graph, profile in jobs:
                self.say(f"validating {graph.spec.name} at {profile.name}")
                session = sessions.setdefault(graph.path, ort_session(graph.path, options.threads))
                ratios = profile.keep_ratios
                reports.append(measure_graph(session, loaded.model, graph,
                                             sst2_batches(data.examples, loaded.tokenizer, 32, config.max_length),
                                             data.name, ratios, profile.name, references))  # fmt: skip
                if grid:
                    reports.append(measure_graph(session, loaded.model, graph, synthetic_batches(config, grid),
                                                 SYNTHETIC, ratios, profile.name, references))  # fmt: skip
                bar.update(1)
        return reports

    def _precisions(self, profiles: list[Profile], references: dict) -> dict | None:
        """fp16 / int8 variants of every graph (``--precision``), validated like the fp32 graphs; their manifest
        section, or None when only fp32 was asked for."""
        from .precision import parse_graph_precisions
        from .variants import check_variant_reports, export_variants, manifest_section

        options = self.options
        variants = export_variants(self.graphs, parse_graph_precisions(options.precision), self.say, options.int8)
        if not variants:
            return None
        reports = {p: self._validate([g for _, g in items], profiles, references) for p, items in variants.items()}
        failures = {p: check_variant_reports(p, r, self.config, options.allow_mismatch) for p, r in reports.items()}
        return manifest_section(self.staging, variants, reports, failures, self.config, options.int8)

    def _add_engines(self, staging: Path, fields: dict[str, Any]) -> None:
        """One engine per graph and precision into ``staging/engines``, listed in the manifest fields."""
        from .engines import build_engines

        target, shapes = self.engine
        names = [graph.spec.name for graph in self.graphs]
        records = build_engines(staging, names, self.options.engine_precision, shapes, self.say, target=target)
        fields["engines"] = [record.to_json() for record in records]
        fields["versions"] = {target.backend: target.trt_version}


def graph_specs(profiles: list[Profile], adjustable: bool) -> list[GraphSpec]:
    """One fixed graph per profile, in profile order, then the adjustable graph when asked for."""
    specs = [GraphSpec(profile.name, profile) for profile in profiles]
    if adjustable:
        specs.append(GraphSpec(ADJUSTABLE_NAME, None))
    return specs


def _engine_setup(options: Any) -> tuple[Any, Any]:
    """The engine target (imports TensorRT, asks the GPU) and shape ranges, before any work is done."""
    from .engines import ShapeRanges, engine_target, parse_precisions

    if options.engine != "trt":
        raise ExportError(f"--engine {options.engine!r} is not supported; pass --engine trt or leave it out")
    if options.attention != "eager":
        raise ExportError(f"TensorRT cannot parse the {options.attention} form (ONNX Runtime contrib ops); "
                          "build engines from --attention eager graphs")  # fmt: skip
    parse_precisions(options.engine_precision)
    shapes = ShapeRanges(options.engine_batch, options.engine_seq)
    return engine_target(options.engine_target), shapes


SYNTHETIC = "synthetic"  # the source name of the reports on the synthetic (batch, length) grid


def accuracy_rows(reports: list[GraphReport]) -> list[dict[str, Any]]:
    """The manifest's accuracy table: each profile graph's report on real data (not the synthetic grid), for the
    encoder and T5 families alike (T5's agreement is identical greedy sequences)."""
    return [
        AccuracyRow(profile=r.profile, dataset=r.source, examples=r.examples, accuracy=r.onnx_accuracy,
                    label_agreement=r.label_agreement, max_abs_diff=r.max_abs_diff, graph=r.graph,
                    torch_accuracy=r.torch_accuracy).to_json()
        for r in reports if r.source != SYNTHETIC and r.graph != ADJUSTABLE_NAME
    ]  # fmt: skip


def summary_rows(profiles: list[Profile], reports: list[GraphReport], latency: list[LatencyRow]) -> list[SummaryRow]:
    """Per profile (from its own graph): accuracy on real data (when labelled), the worst agreement with PyTorch, and
    CPU speedup vs dense: the largest latency cell, the dense graph's p50 over this graph's."""
    largest = max(((c.batch, c.seq) for c in latency), default=None)
    dense_ms = {(c.batch, c.seq): c.p50_ms for c in latency if c.graph == DENSE_NAME}
    rows: list[SummaryRow] = []
    for profile in profiles:
        own = [r for r in reports if r.graph == profile.name]
        real = next((r for r in own if r.source != SYNTHETIC), None)
        cell = next((c for c in latency if c.graph == profile.name and (c.batch, c.seq) == largest), None)
        rows.append(SummaryRow(
            profile=profile.name,
            target_speedup=profile.target_speedup,
            theoretical_speedup_64=profile.speedup_at.get("64", 1.0),
            theoretical_speedup_128=profile.speedup_at.get("128", 1.0),
            accuracy=real.onnx_accuracy if real else None,
            label_agreement=min((r.label_agreement for r in own), default=1.0),
            max_abs_diff=max((r.max_abs_diff for r in own), default=0.0),
            index_flip_rate=max((max(r.index_mismatch.values(), default=0.0) for r in own), default=0.0),
            cpu_speedup=(dense_ms[largest] / cell.p50_ms) if cell and largest in dense_ms else None,
        ))  # fmt: skip
    return rows
