"""``main_export``: checkpoint → profiles → ONNX graphs → checks → validation → latency table → bundle.

The order matters: graphs are checked (onnx.checker, TokenSelect count) before they are validated, validated
before they are timed, and nothing reaches the bundle path unless every step passed — the staging directory is
removed on any failure, so a failed export leaves nothing behind. With ``--engine trt`` the TensorRT flavour and the
GPU are checked before anything is exported, and engines are built from the final graphs after validation.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from acc.profiles import ExportError, Profile, profile_for_speedup, pruned_layers

from .bundle import check_output_dir, new_staging_dir, write_bundle
from .config import AccOnnxConfig, config_for
from .export import ADJUSTABLE_NAME, KEEP_RATIOS_INPUT, ExportedGraph, GraphSpec, count_token_select, export_graph
from .latency_table import LatencyCell, measure_latency_table
from .options import ExportOptions
from .token_select import BODY_VERSION as TOKEN_SELECT_BODY_VERSION
from .tokenizer_file import resolve_max_length, save_bundle_tokenizer
from .triton import write_triton_repository
from .validate import FAST_GRID, SLOW_GRID, GraphReport, check_reports, measure_graph, sst2_batches, synthetic_batches
from .validation_set import SST2_DEV, ValidationSet, choose_validation_set
from .weights import WEIGHTS_FILE, SharedWeights

GRAPHS_DIR = "graphs"
DENSE_NAME = "dense"


@dataclass
class SummaryRow:
    """One line of the printed summary (and of ``ExportResult.rows``)."""

    profile: str
    target_speedup: float
    theoretical_speedup_64: float
    theoretical_speedup_128: float
    accuracy: float | None
    label_agreement: float
    max_abs_diff: float
    index_flip_rate: float
    cpu_speedup: float | None = None  # vs the dense graph, largest latency cell


@dataclass
class ExportResult:
    bundle: Path
    rows: list[SummaryRow]
    latency: list[LatencyCell] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    triton: Path | None = None  # the Triton model repository written with --triton
    dataset: str = "sst2-dev"  # what the texts were validated on (validation_set.py); accuracy only with labels
    labelled: bool = True


def build_profiles(shape: Any, speedups: tuple[float, ...], reference_length: int, min_keep: int) -> list[Profile]:
    """Dense first, then one offline-tuned profile per requested speedup (duplicates and 1.0 folded into dense)."""
    profiles = [profile_for_speedup(shape, 1.0, reference_length, min_keep, name=DENSE_NAME)]
    for speedup in sorted(set(speedups)):
        if speedup != 1.0:
            profiles.append(profile_for_speedup(shape, speedup, reference_length, min_keep))
    return profiles


def main_export(options: ExportOptions, progress: Callable[[str], None] | None = None) -> ExportResult:
    """Export, validate, time and bundle every profile of ``options.model``; returns the summary."""
    from acc.modeling.checkpoint import load_model

    from .families import ENCODER_CLASSIFIER, family_for_model

    family = family_for_model(options.model)
    if family.name != ENCODER_CLASSIFIER:  # GPT-2 and T5 checkpoints have their own pipelines (families.py)
        return family.main_export(options, progress)
    say = progress or (lambda message: None)
    target = options.bundle_dir()
    if options.from_bundle is not None:
        raise ExportError("from_bundle converts an existing bundle; call write_triton_repository(bundle, dir) for it")
    if target.exists() and not options.overwrite:
        raise ExportError(f"bundle {target} already exists; pass --overwrite or choose another --output")
    check_output_dir(target)  # before minutes of export, not after
    if options.triton is not None and Path(options.triton).exists() and not options.overwrite:
        raise ExportError(f"Triton repository {options.triton} already exists; pass --overwrite or another --triton")
    engine = _engine_setup(options) if options.engine else None  # fails fast: no TensorRT, no GPU, bad target
    say(f"loading {options.model}")
    loaded = load_model(options.model)
    model = loaded.model
    config = config_for(model.config)
    config = replace(config, max_length=resolve_max_length(options.max_length, config.max_length))
    if options.atol is not None:
        config = AccOnnxConfig(**{**config.__dict__, "atol": {"logits": options.atol, "": options.atol}})
    profiles = build_profiles(model.shape, options.speedups, options.reference_length, model.min_keep)

    staging = new_staging_dir(target)
    try:
        graphs = _export_all(model, profiles, options, config, staging, say)
        references: dict = {}  # PyTorch outputs, shared by the fp32 graphs and their fp16 variants
        data = choose_validation_set(options, loaded.acc_config, loaded.model.config.num_labels)
        reports = _validate_all(loaded, graphs, profiles, options, config, say, references, data)
        failures = check_reports(reports, config, allow_mismatch=options.allow_mismatch)
        precisions = _precisions(loaded, graphs, profiles, options, config, say, references, staging, data)
        latency = _latency(graphs, profiles, config, options, say) if options.bench else []
        stage_shared_files(staging, graphs, loaded.tokenizer, profiles, options.inline, say, config.max_length)
        rows = summary_rows(profiles, reports, latency, data.name)
        fields = _manifest_fields(loaded, options, config, profiles, graphs, reports, latency, failures, data)
        if precisions is not None:
            fields["precisions"] = precisions
            gated = [v["failures"] for v in precisions["validation"].values() if v["gated"]]
            fields["allow_mismatch"] = bool(fields["allow_mismatch"] or any(gated))  # fp16 misses accepted too
        if engine is not None:
            _add_engines(fields, staging, graphs, options, engine, say)
        say("writing bundle")
        bundle = write_bundle(staging, target, fields, overwrite=options.overwrite, sign_key=options.sign_key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    triton = None
    if options.triton is not None:  # from the finished bundle, so the repository serves exactly what it holds
        triton = write_triton_repository(bundle, options.triton, options.triton_options, overwrite=options.overwrite,
                                         progress=say).path  # fmt: skip
    return ExportResult(bundle, rows, latency, failures, triton=triton, dataset=data.name, labelled=data.labelled)


def _engine_setup(options: ExportOptions) -> tuple[Any, Any]:
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


def _add_engines(fields: dict[str, Any], staging: Path, graphs, options, engine, say) -> None:  # noqa: ANN001
    """Build one engine per graph and precision into ``staging/engines`` and list them in the manifest fields."""
    from .engines import build_engines

    target, shapes = engine
    names = [graph.spec.name for graph in graphs]
    records = build_engines(staging, names, options.engine_precision, shapes, say, target=target)
    fields["engines"] = [record.to_manifest() for record in records]
    fields["versions"] = {target.backend: target.trt_version}


def _export_all(model, profiles, options, config, staging: Path, say) -> list[ExportedGraph]:  # noqa: ANN001
    import onnx

    graphs_dir = staging / GRAPHS_DIR
    graphs_dir.mkdir()
    specs = graph_specs(profiles, options.adjustable)
    graphs: list[ExportedGraph] = []
    with SharedWeights(graphs_dir / WEIGHTS_FILE) as weights, _bar(options, len(specs), "export") as bar:
        for spec in specs:
            say(f"exporting {spec.name}")
            graph = export_graph(model, spec, graphs_dir / f"{spec.name}.onnx", config, attention=options.attention)
            weights.externalize(graph.path)
            graphs.append(graph)
            bar.update(1)
    for graph in graphs:
        try:
            onnx.checker.check_model(str(graph.path), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"graph {graph.spec.name} fails onnx.checker: {str(exc).splitlines()[0]}") from exc
        expected = len(graph.select_layers)
        found = count_token_select(onnx.load(str(graph.path), load_external_data=False))
        if found != expected:
            raise ExportError(f"graph {graph.spec.name} has {found} TokenSelect nodes, expected {expected}; file a bug")
    return graphs


def _precisions(loaded, graphs, profiles, options, config, say, references, staging: Path, data) -> dict | None:  # noqa: ANN001
    """fp16 / int8 variants of every graph (``--precision``), validated like the fp32 graphs; the manifest section."""
    from .precision import parse_graph_precisions
    from .variants import check_variant_reports, export_variants, manifest_section

    variants = export_variants(graphs, parse_graph_precisions(options.precision), say, options.int8)
    if not variants:
        return None
    reports = {p: _validate_all(loaded, [g for _, g in items], profiles, options, config, say, references, data)
               for p, items in variants.items()}  # fmt: skip
    failures = {p: check_variant_reports(p, r, config, options.allow_mismatch) for p, r in reports.items()}
    return manifest_section(staging, variants, reports, failures, config, options.int8)


def _validate_all(loaded, graphs, profiles, options, config, say, references: dict | None, data: ValidationSet) -> list[GraphReport]:  # noqa: ANN001
    grid = [(b, s) for b, s in {"fast": FAST_GRID, "slow": SLOW_GRID, "none": ()}[options.validate_grid]
            if s <= config.max_length]
    by_name = {profile.name: profile for profile in profiles}
    jobs: list[tuple[ExportedGraph, Profile]] = []
    for graph in graphs:
        pruned = [p for p in profiles if p.name != DENSE_NAME] or profiles  # dense-only: check it at dense
        targets = pruned if graph.spec.adjustable else [by_name[graph.spec.name]]
        jobs += [(graph, profile) for profile in targets]
    reports: list[GraphReport] = []
    sessions: dict[Path, Any] = {}
    references = {} if references is None else references  # PyTorch outputs shared by graphs at the same profile
    with _bar(options, len(jobs), "validate") as bar:
        for graph, profile in jobs:
            say(f"validating {graph.spec.name} at {profile.name}")
            session = sessions.get(graph.path) or _session(graph.path, options.threads)
            sessions[graph.path] = session
            ratios = profile.keep_ratios
            reports.append(measure_graph(session, loaded.model, graph,
                                         sst2_batches(data.examples, loaded.tokenizer, 32, config.max_length),
                                         data.name, ratios, profile.name, references))
            if grid:
                reports.append(measure_graph(session, loaded.model, graph, synthetic_batches(config, grid),
                                             "synthetic", ratios, profile.name, references))
            bar.update(1)
    return reports


def _latency(graphs, profiles, config, options, say) -> list[LatencyCell]:  # noqa: ANN001
    say("measuring CPU latency")
    by_name = {profile.name: profile for profile in profiles}
    runs = []
    for graph in graphs:
        if graph.spec.adjustable:
            pruned = [p for p in profiles if p.name != DENSE_NAME] or profiles
            runs += [(graph, p, f"{ADJUSTABLE_NAME}@{p.name}") for p in pruned]
        else:
            runs.append((graph, by_name[graph.spec.name], graph.spec.name))
    return measure_latency_table(runs, config, options.bench_batches, options.bench_seqs, options.bench_iters,
                                 options.threads, progress=options.progress)


def summary_rows(
    profiles: list[Profile], reports: list[GraphReport], latency: list[LatencyCell], dataset: str = SST2_DEV
) -> list[SummaryRow]:
    """Per profile (from its own graph): accuracy on ``dataset`` (labelled data only), agreement with PyTorch, and
    CPU speedup vs dense."""
    rows: list[SummaryRow] = []
    for profile in profiles:
        sst2 = next((r for r in reports if r.graph == profile.name and r.source == dataset), None)
        own = profile_measures(profile.name, reports, latency)
        rows.append(SummaryRow(
            profile=profile.name,
            target_speedup=profile.target_speedup,
            theoretical_speedup_64=profile.speedup_at.get("64", 1.0),
            theoretical_speedup_128=profile.speedup_at.get("128", 1.0),
            accuracy=sst2.onnx_accuracy if sst2 else None,
            label_agreement=own.agreement,
            max_abs_diff=own.max_abs_diff,
            index_flip_rate=own.index_flip_rate,
            cpu_speedup=own.cpu_speedup,
        ))
    return rows


@dataclass(frozen=True)
class ProfileMeasures:
    """What every family's summary row reads off a profile's own graph; worst case over its validation reports."""

    agreement: float  # lowest label (or sequence) agreement with PyTorch
    max_abs_diff: float
    index_flip_rate: float
    cpu_speedup: float | None  # dense p50 / own p50 at the largest measured (batch, seq); None when not timed


def profile_measures(name: str, reports: list[GraphReport], latency: list[LatencyCell]) -> ProfileMeasures:
    """The agreement, error and CPU speedup columns of profile ``name``, from its own graph's reports and timings."""
    own = [r for r in reports if r.graph == name]
    largest = max(((c.batch, c.seq) for c in latency), default=None)
    dense_ms = {(c.batch, c.seq): c.p50_ms for c in latency if c.graph == DENSE_NAME}
    cell = next((c for c in latency if c.graph == name and (c.batch, c.seq) == largest), None)
    return ProfileMeasures(
        agreement=min((r.label_agreement for r in own), default=1.0),
        max_abs_diff=max((r.max_abs_diff for r in own), default=0.0),
        index_flip_rate=max((max(r.index_mismatch.values(), default=0.0) for r in own), default=0.0),
        cpu_speedup=(dense_ms[largest] / cell.p50_ms) if cell and largest in dense_ms else None,
    )


def _manifest_fields(loaded, options, config, profiles, graphs, reports, latency, failures, data) -> dict[str, Any]:  # noqa: ANN001
    from acc.modeling.checkpoint import model_source_id

    shape = loaded.model.shape  # family-independent (DistilBERT names these dim / n_heads / hidden_dim)
    by_graph = {graph.spec.name: graph for graph in graphs}
    accuracy = [
        {"profile": r.profile, "graph": r.graph, "dataset": data.name, "examples": r.examples,
         "accuracy": r.onnx_accuracy, "torch_accuracy": r.torch_accuracy, "label_agreement": r.label_agreement,
         "max_abs_diff": r.max_abs_diff}
        for r in reports if data.labelled and r.source == data.name and r.graph != ADJUSTABLE_NAME
    ]
    return {
        "model": {
            "name": Path(str(options.model)).name, "source": model_source_id(options.model), "architecture": config.architecture,
            "num_layers": loaded.model.num_layers, "hidden_size": shape.hidden_size,
            "num_heads": shape.num_heads, "intermediate_size": shape.intermediate_size,
            "labels": list(loaded.acc_config.labels), "max_length": config.max_length, "inputs": list(config.inputs),
            "min_keep": loaded.model.min_keep, "checkpoint_accuracy": loaded.acc_config.accuracy,
        },
        "profiles": [
            {"name": p.name, "graph": f"{GRAPHS_DIR}/{p.name}.onnx", "profile": p.to_dict(),
             "token_select_nodes": 0 if options.inline else len(pruned_layers(p.keep_ratios))}
            for p in profiles
        ],
        "adjustable": ({"graph": f"{GRAPHS_DIR}/{ADJUSTABLE_NAME}.onnx", "input": KEEP_RATIOS_INPUT}
                       if ADJUSTABLE_NAME in by_graph else None),
        "tables": {
            "accuracy": accuracy,
            "latency": [c.to_manifest_row() for c in latency if "@" not in c.graph],
        },
        "validation": {
            "reports": [r.to_dict() for r in reports],
            "atol": config.atol, "min_label_agreement": config.min_label_agreement,
            "grid": options.validate_grid, "failures": failures, "dataset": data.name,
            "examples": len(data.examples), "labelled": data.labelled,
            "adjustable_latency": [c.to_manifest_row() for c in latency if "@" in c.graph],
        },
        "graph_format": {"opset": 18, "inline": options.inline, "weights": f"{GRAPHS_DIR}/{WEIGHTS_FILE}",
                         "attention": options.attention, "token_select_version": TOKEN_SELECT_BODY_VERSION},
        "allow_mismatch": bool(options.allow_mismatch and failures),
    }


def _session(path: Path, threads: int | None):  # noqa: ANN202
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    if threads:
        session_options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), session_options, providers=["CPUExecutionProvider"])


def graph_specs(profiles: list[Profile], adjustable: bool) -> list[GraphSpec]:
    """One fixed graph per profile, in profile order, then the adjustable graph when asked for."""
    specs = [GraphSpec(profile.name, profile) for profile in profiles]
    if adjustable:
        specs.append(GraphSpec(ADJUSTABLE_NAME, None))
    return specs


def stage_shared_files(
    staging: Path, graphs: list[ExportedGraph], tokenizer: Any, profiles: list[Profile], inline: bool,
    say: Callable[[str], None], max_length: int,
) -> None:
    """What every family's bundle holds besides graphs: TokenSelect inlined if asked, the tokenizer (truncating at
    the manifest's ``max_length``), profile JSONs."""
    if inline:
        say("inlining TokenSelect")
        for graph in graphs:
            _inline(graph.path)
    save_bundle_tokenizer(tokenizer, staging, max_length)
    (staging / "profiles").mkdir()
    for profile in profiles:
        profile.save(staging / "profiles" / f"{profile.name}.json")


def _inline(path: Path) -> None:
    """Expand the TokenSelect calls in place (external weights stay where they are)."""
    import onnx
    import onnx.inliner

    proto = onnx.load(str(path), load_external_data=False)
    inlined = onnx.inliner.inline_local_functions(proto)
    onnx.save(inlined, str(path))


def _bar(options: ExportOptions, total: int, description: str):  # noqa: ANN202
    if not options.progress:
        return nullcontext(_NoBar())
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="graph", leave=False)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass
