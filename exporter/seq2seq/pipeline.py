"""``main_export_seq2seq``: T5 checkpoint → profiles → encoder graphs + decoder graph → checks → validation →
latency → bundle. The seq2seq entry of ``acc.exporter.families``; same order and guarantees as the BERT pipeline
(``acc.exporter.pipeline``): nothing reaches the bundle path unless every graph passed, staging removed on failure.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acc.profiles import ExportError, Profile, pruned_layers
from acc.runtime.seq2seq_names import DECODER_NAME

from ..bundle import new_staging_dir, write_bundle
from ..config import AXES_BS, AccOnnxConfig
from ..export import ADJUSTABLE_NAME, KEEP_RATIOS_INPUT, ExportedGraph, count_token_select
from ..latency_table import LatencyCell
from ..options import ExportOptions
from ..pipeline import (
    DENSE_NAME,
    GRAPHS_DIR,
    _bar,
    _session,
    build_profiles,
    graph_specs,
    profile_measures,
    stage_shared_files,
)
from ..tokenizer_file import resolve_max_length
from ..validate import FAST_GRID, SLOW_GRID, GraphReport, check_reports
from ..weights import WEIGHTS_FILE, SharedWeights
from .export import DecoderGraph, export_decoder, export_encoder
from .latency import GenerationCell, measure_seq2seq_latency
from .validate import measure_seq2seq, prompt_batches, synthetic_prompts

FAMILY = "seq2seq"
SEQ2SEQ_MAX_LENGTH = 128  # T5 has relative positions, no limit of its own; the shipped t5-sst2 trained at 128


@dataclass
class Seq2SeqSummaryRow:
    """One line of the printed summary: a profile's encoder graph, validated end to end with the decoder."""

    profile: str
    target_speedup: float
    theoretical_speedup_64: float
    theoretical_speedup_128: float
    accuracy: float | None  # ONNX greedy answers on SST-2 dev under the validation template
    sequence_agreement: float  # generated token sequences identical to PyTorch's
    max_abs_diff: float
    index_flip_rate: float
    encoder_cpu_speedup: float | None = None  # encoder graph vs dense, largest latency cell
    generation_ms: float | None = None  # whole greedy generation, smallest latency cell


@dataclass
class Seq2SeqExportResult:
    bundle: Path
    rows: list[Seq2SeqSummaryRow]
    template: str
    latency: list[LatencyCell] = field(default_factory=list)
    generation: list[GenerationCell] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    family: str = FAMILY
    triton: Path | None = None


def main_export_seq2seq(options: ExportOptions, progress: Callable[[str], None] | None = None) -> Seq2SeqExportResult:
    """Export, validate, time and bundle every profile of the T5 ``options.model``; returns the summary."""
    from acc.modeling.seq2seq.checkpoint import load_seq2seq
    from acc.modeling.seq2seq.prompts import templates_from_json

    say = progress or (lambda message: None)
    _check_supported(options)
    target = options.bundle_dir()
    if target.exists() and not options.overwrite:
        raise ExportError(f"bundle {target} already exists; pass --overwrite or choose another --output")
    say(f"loading {options.model}")
    loaded = load_seq2seq(options.model)
    model = loaded.model
    hf_config = model.config
    atol = {"logits": options.atol, "": options.atol} if options.atol is not None else {"logits": 1e-4, "": 1e-5}
    config = AccOnnxConfig("t5", {"input_ids": AXES_BS, "attention_mask": AXES_BS}, atol=atol,
                           vocab_size=int(hf_config.vocab_size),
                           max_length=resolve_max_length(options.max_length, None, SEQ2SEQ_MAX_LENGTH))  # fmt: skip
    train_templates, _, _ = templates_from_json(loaded.prompts)
    template = train_templates[0]
    profiles = build_profiles(model.shape, options.speedups, options.reference_length, model.min_keep)

    staging = new_staging_dir(target)
    try:
        graphs, decoder = _export_all(model, profiles, options, staging, say)
        spec = _decoder_spec(model, decoder, staging)
        reports = _validate_all(loaded, graphs, decoder, spec, profiles, options, config, template, say)
        failures = check_reports(reports, config, allow_mismatch=options.allow_mismatch)
        latency: list[LatencyCell] = []
        generation: list[GenerationCell] = []
        if options.bench:
            say("measuring CPU latency (encoder graphs, whole generations)")
            latency, generation = measure_seq2seq_latency(
                _latency_runs(graphs, profiles), decoder.path, spec, config.vocab_size, options.bench_batches,
                options.bench_seqs, options.bench_iters, options.threads, options.progress,
            )  # fmt: skip
        stage_shared_files(staging, graphs, loaded.tokenizer, profiles, options.inline, say, config.max_length)
        rows = summary_rows(profiles, reports, latency, generation)
        fields = _manifest_fields(loaded, options, config, profiles, graphs, spec, reports, latency, generation,
                                  failures, template.name)  # fmt: skip
        say("writing bundle")
        bundle = write_bundle(staging, target, fields, overwrite=options.overwrite, sign_key=options.sign_key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Seq2SeqExportResult(bundle, rows, template.name, latency, generation, failures)


def _check_supported(options: ExportOptions) -> None:
    """Options the BERT pipeline has and this one does not yet: one line each, before any work."""
    if getattr(options, "engine", None):
        raise ExportError("--engine is not supported for T5 bundles yet; export without it (ONNX Runtime graphs)")
    if getattr(options, "triton", None) is not None:
        raise ExportError("--triton is not supported for T5 bundles yet; export without it")
    if tuple(getattr(options, "precision", ("fp32",))) != ("fp32",):
        raise ExportError("T5 bundles are fp32 only for now; pass --precision fp32")
    if getattr(options, "validation_data", None) is not None:
        raise ExportError("--validation-data is not supported for T5 bundles yet (they are validated on SST-2 dev "
                          "through their instruction templates); leave it out")  # fmt: skip


def _export_all(model, profiles, options, staging: Path, say) -> tuple[list[ExportedGraph], DecoderGraph]:  # noqa: ANN001
    import onnx

    graphs_dir = staging / GRAPHS_DIR
    graphs_dir.mkdir()
    specs = graph_specs(profiles, options.adjustable)
    graphs: list[ExportedGraph] = []
    with SharedWeights(graphs_dir / WEIGHTS_FILE) as weights, _bar(options, len(specs) + 1, "export") as bar:
        for spec in specs:
            say(f"exporting encoder {spec.name}")
            graph = export_encoder(model, spec, graphs_dir / f"{spec.name}.onnx")
            weights.externalize(graph.path)
            graphs.append(graph)
            bar.update(1)
        say("exporting decoder step")
        decoder = export_decoder(model, graphs_dir / f"{DECODER_NAME}.onnx")
        weights.externalize(decoder.path)  # the embedding table is stored once for encoder and decoder
        bar.update(1)
    for path, name, expected in [(g.path, g.spec.name, len(g.select_layers)) for g in graphs] + [(decoder.path, DECODER_NAME, 0)]:
        try:
            onnx.checker.check_model(str(path), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"graph {name} fails onnx.checker: {str(exc).splitlines()[0]}") from exc
        found = count_token_select(onnx.load(str(path), load_external_data=False))
        if found != expected:
            raise ExportError(f"graph {name} has {found} TokenSelect nodes, expected {expected}; file a bug")
    return graphs, decoder


def _decoder_spec(model, decoder: DecoderGraph, staging: Path):  # noqa: ANN001, ANN202
    from acc.runtime.seq2seq_step import DecoderSpec

    config = model.config
    return DecoderSpec(
        graph=decoder.path.relative_to(staging).as_posix(), num_layers=decoder.num_layers,
        num_heads=decoder.num_heads, head_dim=decoder.head_dim, start_token_id=model.start_token_id,
        eos_token_id=int(config.eos_token_id), pad_token_id=int(config.pad_token_id),
    )  # fmt: skip


def _validate_all(loaded, graphs, decoder, spec, profiles, options, config, template, say) -> list[GraphReport]:  # noqa: ANN001
    from acc.modeling.data import load_sst2
    from acc.modeling.seq2seq.data import label_token_ids

    split = load_sst2("dev", options.data_dir).head(options.max_examples)
    answers = label_token_ids(loaded.tokenizer)
    grid = {"fast": FAST_GRID, "slow": SLOW_GRID, "none": ()}[options.validate_grid]
    by_name = {profile.name: profile for profile in profiles}
    jobs: list[tuple[ExportedGraph, Profile]] = []
    for graph in graphs:
        pruned = [p for p in profiles if p.name != DENSE_NAME] or profiles
        jobs += [(graph, p) for p in (pruned if graph.spec.adjustable else [by_name[graph.spec.name]])]
    decoder_session = _session(decoder.path, options.threads)
    sessions: dict[Path, Any] = {}
    references: dict = {}
    reports: list[GraphReport] = []
    with _bar(options, len(jobs), "validate") as bar:
        for graph, profile in jobs:
            say(f"validating {graph.spec.name} at {profile.name} (encoder + decoder, greedy)")
            session = sessions.setdefault(graph.path, _session(graph.path, options.threads))
            common = (session, decoder_session, spec, loaded.model, graph)
            batches = prompt_batches(split, loaded.tokenizer, template, 32, config.max_length)
            reports.append(measure_seq2seq(*common, batches, f"sst2-dev:{template.name}", profile.keep_ratios,
                                           profile.name, answers, max(len(a) for a in answers), references))  # fmt: skip
            if grid:
                reports.append(measure_seq2seq(*common, synthetic_prompts(config, grid), "synthetic",
                                               profile.keep_ratios, profile.name, reference_cache=references))  # fmt: skip
            bar.update(1)
    return reports


def _latency_runs(graphs: list[ExportedGraph], profiles: list[Profile]) -> list[tuple[ExportedGraph, Profile, str]]:
    by_name = {profile.name: profile for profile in profiles}
    runs = []
    for graph in graphs:
        if graph.spec.adjustable:
            runs += [(graph, p, f"{ADJUSTABLE_NAME}@{p.name}") for p in profiles if p.name != DENSE_NAME]
        else:
            runs.append((graph, by_name[graph.spec.name], graph.spec.name))
    return runs


def summary_rows(profiles: list[Profile], reports: list[GraphReport], latency: list[LatencyCell],
                 generation: list[GenerationCell]) -> list[Seq2SeqSummaryRow]:  # fmt: skip
    """Per profile, from its own encoder graph: accuracy, agreement with PyTorch, CPU speedups."""
    rows: list[Seq2SeqSummaryRow] = []
    smallest = min(((c.batch, c.seq) for c in generation), default=None)
    for profile in profiles:
        labelled = next((r for r in reports if r.graph == profile.name and r.source != "synthetic"), None)
        gen = next((g for g in generation if g.profile == profile.name and (g.batch, g.seq) == smallest), None)
        own = profile_measures(profile.name, reports, latency)
        rows.append(Seq2SeqSummaryRow(
            profile=profile.name,
            target_speedup=profile.target_speedup,
            theoretical_speedup_64=profile.speedup_at.get("64", 1.0),
            theoretical_speedup_128=profile.speedup_at.get("128", 1.0),
            accuracy=labelled.onnx_accuracy if labelled else None,
            sequence_agreement=own.agreement,
            max_abs_diff=own.max_abs_diff,
            index_flip_rate=own.index_flip_rate,
            encoder_cpu_speedup=own.cpu_speedup,
            generation_ms=gen.p50_ms if gen else None,
        ))  # fmt: skip
    return rows


def _manifest_fields(loaded, options, config, profiles, graphs, spec, reports, latency, generation, failures,
                     template: str) -> dict[str, Any]:  # noqa: ANN001  # fmt: skip
    from acc.modeling.checkpoint import model_source_id

    hf = loaded.model.config
    shape = loaded.model.shape
    accuracy = [
        {"profile": r.profile, "graph": r.graph, "dataset": r.source, "examples": r.examples,
         "accuracy": r.onnx_accuracy, "torch_accuracy": r.torch_accuracy, "label_agreement": r.label_agreement,
         "max_abs_diff": r.max_abs_diff}
        for r in reports if r.source != "synthetic" and r.graph != ADJUSTABLE_NAME
    ]  # fmt: skip
    adjustable = next((g for g in graphs if g.spec.adjustable), None)
    return {
        "family": FAMILY,
        "model": {
            "name": Path(str(options.model)).name, "source": model_source_id(options.model), "architecture": "t5", "family": FAMILY,
            "num_layers": loaded.model.num_layers, "hidden_size": int(hf.d_model), "num_heads": int(hf.num_heads),
            "intermediate_size": int(hf.d_ff), "labels": list(loaded.acc_config.labels),
            "max_length": config.max_length, "inputs": ["input_ids", "attention_mask"],
            "min_keep": loaded.model.min_keep, "checkpoint_accuracy": loaded.acc_config.accuracy,
            "num_decoder_layers": loaded.model.num_decoder_layers, "vocab_size": int(hf.vocab_size),
        },
        "profiles": [
            {"name": p.name, "graph": f"{GRAPHS_DIR}/{p.name}.onnx", "profile": p.to_dict(),
             "token_select_nodes": 0 if options.inline else len(pruned_layers(p.keep_ratios))}
            for p in profiles
        ],
        "adjustable": ({"graph": f"{GRAPHS_DIR}/{ADJUSTABLE_NAME}.onnx", "input": KEEP_RATIOS_INPUT}
                       if adjustable else None),
        "seq2seq": {
            "decoder": asdict(spec),
            "encoder_outputs": ["encoder_hidden", "encoder_mask"],
            "encoder_shape": asdict(shape),
            "prompts": loaded.prompts,
            "validation_template": template,
            "generation_latency": [cell.to_dict() for cell in generation],
            "speedup_scope": "profiles target encoder FLOPs only (the decoder is not counted)",
        },
        "tables": {
            "accuracy": accuracy,
            "latency": [c.to_manifest_row() for c in latency if "@" not in c.graph],
        },
        "validation": {
            "reports": [r.to_dict() for r in reports], "atol": config.atol,
            "min_label_agreement": config.min_label_agreement, "grid": options.validate_grid, "failures": failures,
            "adjustable_latency": [c.to_manifest_row() for c in latency if "@" in c.graph],
            "label_agreement_means": "identical greedy token sequences (ONNX Runtime vs PyTorch)",
        },
        "graph_format": {"opset": 18, "inline": options.inline, "weights": f"{GRAPHS_DIR}/{WEIGHTS_FILE}"},
        "allow_mismatch": bool(options.allow_mismatch and failures),
    }
