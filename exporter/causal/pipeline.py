"""``main_export_causal``: GPT-2 checkpoint → profiles → prefill graphs + decode graph → checks → validation →
CPU TTFT / decode table → bundle. Reached through ``acc.exporter.main_export`` (``families.py``) for causal models.

The same order and guarantees as the BERT pipeline: graphs are checked (onnx.checker, TokenSelect count) before
they are validated, validated before they are timed, and the staging directory is removed on any failure.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acc.modeling.checkpoint import CAUSAL_LM
from acc.profiles import ExportError, Profile, pruned_layers
from acc.runtime.causal_names import ADJUSTABLE_NAME, DECODE_NAME, KEEP_RATIOS_INPUT

from ..bundle import new_staging_dir, write_bundle
from ..export import count_token_select
from ..options import ExportOptions
from ..pipeline import DENSE_NAME, GRAPHS_DIR, build_profiles
from ..tokenizer_file import resolve_max_length, save_bundle_tokenizer
from ..weights import WEIGHTS_FILE, SharedWeights
from .export import CausalGraph, export_decode, export_prefill
from .latency import CausalLatencyRow, measure_causal_latency
from .validate import (
    CAUSAL_FAST_GRID,
    CAUSAL_SLOW_GRID,
    CausalReport,
    CausalTolerance,
    check_causal_reports,
    measure_generation,
    measure_prefill,
    synthetic_prompts,
    text_prompts,
)

GENERATION_CHECK_PROMPTS = 8
GENERATION_CHECK_TOKENS = 8
VALIDATION_PROMPT_LENGTH = 128


@dataclass
class CausalSummaryRow:
    profile: str
    target_speedup: float
    theoretical_speedup_128: float
    theoretical_speedup_512: float
    token_agreement: float
    greedy_identical: float
    max_abs_diff: float
    cache_length_errors: int
    cpu_ttft_speedup: float | None = None


@dataclass
class CausalExportResult:
    bundle: Path
    rows: list[CausalSummaryRow]
    latency: list[CausalLatencyRow] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    family: str = CAUSAL_LM
    triton: Path | None = None  # acc-export prints it when set; causal bundles have no Triton repository yet


def main_export_causal(options: ExportOptions, progress: Callable[[str], None] | None = None) -> CausalExportResult:
    """Export, validate, time and bundle every profile of the causal LM ``options.model``."""
    from acc.modeling.causal.checkpoint import load_causal_model

    say = progress or (lambda message: None)
    target = options.bundle_dir()
    if target.exists() and not options.overwrite:
        raise ExportError(f"bundle {target} already exists; pass --overwrite or choose another --output")
    if options.engine or getattr(options, "triton", None):
        raise ExportError("--engine and --triton are not available for causal LMs yet; leave them out")
    say(f"loading {options.model}")
    loaded = load_causal_model(options.model)
    model = loaded.model
    tolerance = CausalTolerance() if options.atol is None else CausalTolerance(options.atol, options.atol)
    profiles = build_profiles(model.shape, options.speedups, options.reference_length, model.min_keep)

    staging = new_staging_dir(target)
    try:
        prefills, decode = _export_all(model, profiles, options, staging, say)
        reports = _validate_all(loaded, prefills, decode, profiles, options, say)
        failures = check_causal_reports(reports, tolerance, allow_mismatch=options.allow_mismatch)
        latency = _latency(prefills, decode, profiles, model, options, say) if options.bench else []
        save_bundle_tokenizer(loaded.tokenizer, staging, model.config.n_positions)
        (staging / "profiles").mkdir()
        for profile in profiles:
            profile.save(staging / "profiles" / f"{profile.name}.json")
        fields = _manifest_fields(loaded, options, profiles, prefills, decode, reports, latency, failures, tolerance)
        say("writing bundle")
        bundle = write_bundle(staging, target, fields, overwrite=options.overwrite, sign_key=options.sign_key)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CausalExportResult(bundle, _summary_rows(profiles, reports, latency), latency, failures)


def _export_all(model, profiles: list[Profile], options: ExportOptions, staging: Path, say) -> tuple[list[CausalGraph], CausalGraph]:
    import onnx

    graphs_dir = staging / GRAPHS_DIR
    graphs_dir.mkdir()
    prefills: list[CausalGraph] = []
    with SharedWeights(graphs_dir / WEIGHTS_FILE) as weights:
        for profile in profiles:
            say(f"exporting prefill {profile.name}")
            prefills.append(export_prefill(model, profile.name, profile, graphs_dir / f"{profile.name}.onnx"))
            weights.externalize(prefills[-1].path)
        if options.adjustable:
            say("exporting adjustable prefill")
            prefills.append(export_prefill(model, ADJUSTABLE_NAME, None, graphs_dir / f"{ADJUSTABLE_NAME}.onnx"))
            weights.externalize(prefills[-1].path)
        say("exporting decode step")
        decode = export_decode(model, graphs_dir / f"{DECODE_NAME}.onnx")
        weights.externalize(decode.path)
    for graph in [*prefills, decode]:
        try:
            onnx.checker.check_model(str(graph.path), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"graph {graph.name} fails onnx.checker: {str(exc).splitlines()[0]}") from exc
        found = count_token_select(onnx.load(str(graph.path), load_external_data=False))
        if found != len(graph.select_layers):
            raise ExportError(f"graph {graph.name} has {found} TokenSelect nodes, expected {len(graph.select_layers)}; file a bug")
    return prefills, decode


def _validate_all(loaded, prefills, decode, profiles, options: ExportOptions, say) -> list[CausalReport]:
    from acc.modeling.data import load_sst2
    from acc.modeling.example_files import read_examples

    if options.validation_data is not None:  # prompts only: labels, if any, are not used by a language model
        texts = read_examples(options.validation_data).head(options.max_examples).texts
    else:
        texts = load_sst2("dev", options.data_dir).head(options.max_examples).texts
    grid = {"fast": CAUSAL_FAST_GRID, "slow": CAUSAL_SLOW_GRID, "none": ()}[options.validate_grid]
    model, tokenizer = loaded.model, loaded.tokenizer
    # Prompts are cut here for validation only (default 128 tokens, as before); the bundle's own limit is n_positions.
    max_length = resolve_max_length(options.max_length, model.config.n_positions, default=VALIDATION_PROMPT_LENGTH)
    decode_session = _session(decode.path, options.threads)
    pruned = [p for p in profiles if p.name != DENSE_NAME] or profiles
    reports: list[CausalReport] = []
    for graph in prefills:
        session = _session(graph.path, options.threads)
        for profile in pruned if graph.adjustable else [graph.profile]:
            say(f"validating {graph.name} at {profile.name}")
            ratios = profile.keep_ratios
            prompts = lambda: text_prompts(tokenizer, texts, max_length=max_length)
            reports.append(measure_prefill(session, model, graph, prompts(), "text", ratios, profile.name))
            if grid:
                batches = synthetic_prompts(model.config.vocab_size, [(b, min(s, max_length)) for b, s in grid])
                reports.append(measure_prefill(session, model, graph, batches, "synthetic", ratios, profile.name))
            few = text_prompts(tokenizer, texts[: 6 * GENERATION_CHECK_PROMPTS], batch_size=4, max_length=max_length)
            reports.append(measure_generation(session, decode_session, model, graph, few, ratios, profile.name,
                                              GENERATION_CHECK_TOKENS))  # fmt: skip
    return reports


def _latency(prefills, decode, profiles, model, options: ExportOptions, say) -> list[CausalLatencyRow]:
    say("measuring CPU TTFT and decode latency")
    by_name = {p.name: p for p in profiles}
    fixed = [(g, by_name[g.name]) for g in prefills if not g.adjustable]
    return measure_causal_latency(fixed, decode, model.config.vocab_size, options.bench_batches, options.bench_seqs,
                                  options.bench_iters, options.threads)  # fmt: skip


def _summary_rows(profiles: list[Profile], reports: list[CausalReport], latency: list[CausalLatencyRow]) -> list[CausalSummaryRow]:
    rows: list[CausalSummaryRow] = []
    largest = max(((c.batch, c.seq) for c in latency), default=None)
    dense = {(c.batch, c.seq): c.ttft_p50_ms for c in latency if c.profile == DENSE_NAME}
    for profile in profiles:
        own = [r for r in reports if r.graph == profile.name]
        prefill = [r for r in own if r.kind == "prefill"]
        generated = [r for r in own if r.kind == "generate"]
        cell = next((c for c in latency if c.profile == profile.name and (c.batch, c.seq) == largest), None)
        rows.append(CausalSummaryRow(
            profile=profile.name, target_speedup=profile.target_speedup,
            theoretical_speedup_128=profile.speedup_at.get("128", 1.0),
            theoretical_speedup_512=profile.speedup_at.get("512", 1.0),
            token_agreement=min((r.token_agreement for r in prefill), default=1.0),
            greedy_identical=min((r.token_agreement for r in generated), default=1.0),
            max_abs_diff=max((r.max_abs_diff for r in prefill), default=0.0),
            cache_length_errors=sum(r.cache_length_errors for r in prefill),
            cpu_ttft_speedup=(dense[largest] / cell.ttft_p50_ms) if cell and largest in dense else None,
        ))  # fmt: skip
    return rows


def _manifest_fields(loaded, options, profiles, prefills, decode, reports, latency, failures, tolerance) -> dict[str, Any]:
    from acc.modeling.checkpoint import model_source_id

    config = loaded.model.config
    tokenizer = loaded.tokenizer
    adjustable = next((g for g in prefills if g.adjustable), None)
    return {
        "model": {
            "name": Path(str(options.model)).name, "source": model_source_id(options.model), "architecture": "gpt2",
            "family": CAUSAL_LM, "num_layers": loaded.model.num_layers, "hidden_size": config.n_embd,
            "num_heads": config.n_head, "intermediate_size": config.n_inner or 4 * config.n_embd, "labels": [],
            "max_length": config.n_positions, "inputs": ["input_ids", "attention_mask"],
            "vocab_size": config.vocab_size, "min_keep": loaded.model.min_keep,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id, "padding_side": "left",
            "checkpoint_training": {k: v for k, v in loaded.acc_config.training.items() if k in ("data", "perplexity")},
        },
        "profiles": [
            {"name": p.name, "graph": f"{GRAPHS_DIR}/{p.name}.onnx", "profile": p.to_dict(),
             "token_select_nodes": len(pruned_layers(p.keep_ratios))}
            for p in profiles
        ],
        "adjustable": {"graph": f"{GRAPHS_DIR}/{ADJUSTABLE_NAME}.onnx", "input": KEEP_RATIOS_INPUT} if adjustable else None,
        "decode": {"graph": f"{GRAPHS_DIR}/{DECODE_NAME}.onnx", "inputs": list(decode.input_names),
                   "outputs": list(decode.output_names)},
        "tables": {
            "accuracy": [],
            "latency": [row.to_manifest_row() for row in latency],
            "decode_latency": [row.to_decode_row() for row in latency],
        },
        "validation": {
            "reports": [r.to_dict() for r in reports], "tolerance": tolerance.__dict__,
            "grid": options.validate_grid, "failures": failures,
        },
        "graph_format": {"opset": 18, "inline": False, "weights": f"{GRAPHS_DIR}/{WEIGHTS_FILE}"},
        "allow_mismatch": bool(options.allow_mismatch and failures),
    }  # fmt: skip


def _session(path: Path, threads: int | None):
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    if threads:
        session_options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), session_options, providers=["CPUExecutionProvider"])
