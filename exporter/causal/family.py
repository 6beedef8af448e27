"""``CausalExport``: GPT-2 causal LMs through the export pipeline — a prefill graph per profile (per-layer pruned
KV outputs), the adjustable prefill and one decode-step graph, validated on next-token agreement and short greedy
generations, timed as TTFT and decode latency. fp32 eager graphs with TokenSelect functions only: no variants,
engines, Triton repositories, fused attention or inlining (refused by ``check_options``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from acc.modeling.checkpoint import CAUSAL_LM
from acc.profiles import Profile
from acc.runtime.causal_names import ADJUSTABLE_NAME, DECODE_NAME, PREFILL_INPUTS

from ..config import AXES_BS
from ..family import DENSE_NAME, GRAPHS_DIR, BuiltGraph, ExportFamily, ort_session, profiles_of
from ..tokenizer_file import resolve_max_length
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
    triton: Path | None = None  # always None: --triton is refused for causal LMs


class CausalExport(ExportFamily):
    """GPT-2: prefill graphs per profile plus a decode step sharing their weights."""

    name = CAUSAL_LM
    label = "gpt2 (causal)"
    unsupported = ("inline", "precision", "int8", "attention", "engine", "engine_precision", "engine_batch",
                   "engine_seq", "engine_target", "triton", "triton_options")  # fmt: skip
    step_graphs = (DECODE_NAME,)
    inputs: ClassVar[dict[str, dict[int, str]]] = {
        name: AXES_BS for name in PREFILL_INPUTS
    }  # left-padded prompts; the decode step has its own

    def load(self) -> Any:
        from acc.modeling.causal.checkpoint import load_causal_model

        options = self.options
        self.loaded = loaded = load_causal_model(options.model)
        self.tolerance = CausalTolerance() if options.atol is None else CausalTolerance(options.atol, options.atol)
        self.tokenizer, self.max_length = loaded.tokenizer, loaded.model.config.n_positions
        self.latency: list[CausalLatencyRow] = []
        return loaded.model

    def export_graphs(self, profiles: list[Profile], graphs_dir: Path) -> Iterator[BuiltGraph]:
        model = self.loaded.model
        self.prefills: list[CausalGraph] = []
        named = [(p.name, p) for p in profiles] + ([(ADJUSTABLE_NAME, None)] if self.options.adjustable else [])
        for name, profile in named:
            self.say(f"exporting prefill {name}" if profile else "exporting adjustable prefill")
            self.prefills.append(export_prefill(model, name, profile, graphs_dir / f"{name}.onnx"))
            yield BuiltGraph(name, self.prefills[-1].path, len(self.prefills[-1].select_layers))
        self.say("exporting decode step")
        self.decode = export_decode(model, graphs_dir / f"{DECODE_NAME}.onnx")
        yield BuiltGraph(DECODE_NAME, self.decode.path, len(self.decode.select_layers), per_profile=False)

    def validate(self, profiles: list[Profile]) -> list[str]:
        """Next-token agreement on texts and a synthetic grid, then short greedy generations through the decode
        step, for every prefill graph at its profiles."""
        from acc.modeling.data import load_sst2
        from acc.modeling.example_files import read_examples

        options, model, tokenizer = self.options, self.loaded.model, self.loaded.tokenizer
        if options.validation_data is not None:  # prompts only: labels, if any, are not used by a language model
            texts = read_examples(options.validation_data).head(options.max_examples).texts
        else:
            texts = load_sst2("dev", options.data_dir).head(options.max_examples).texts
        grid = {"fast": CAUSAL_FAST_GRID, "slow": CAUSAL_SLOW_GRID, "none": ()}[options.validate_grid]
        # Prompts are cut for validation only (default 128 tokens); the bundle's own limit is n_positions.
        max_length = resolve_max_length(options.max_length, model.config.n_positions, default=VALIDATION_PROMPT_LENGTH)
        decode_session = ort_session(self.decode.path, options.threads)
        self.reports: list[CausalReport] = []
        for graph in self.prefills:
            session = ort_session(graph.path, options.threads)
            for profile in profiles_of(graph.name, graph.adjustable, profiles):
                self.say(f"validating {graph.name} at {profile.name}")
                ratios = profile.keep_ratios
                prompts = text_prompts(tokenizer, texts, max_length=max_length)
                self.reports.append(measure_prefill(session, model, graph, prompts, "text", ratios, profile.name))
                if grid:
                    batches = synthetic_prompts(model.config.vocab_size, [(b, min(s, max_length)) for b, s in grid])
                    self.reports.append(measure_prefill(session, model, graph, batches, "synthetic", ratios,
                                                        profile.name))  # fmt: skip
                few = text_prompts(tokenizer, texts[: 6 * GENERATION_CHECK_PROMPTS], batch_size=4,
                                   max_length=max_length)  # fmt: skip
                self.reports.append(measure_generation(session, decode_session, model, graph, few, ratios,
                                                       profile.name, GENERATION_CHECK_TOKENS))  # fmt: skip
        return check_causal_reports(self.reports, self.tolerance, allow_mismatch=options.allow_mismatch)

    def time(self, profiles: list[Profile]) -> None:
        self.say("measuring CPU TTFT and decode latency")
        options = self.options
        by_name = {p.name: p for p in profiles}
        fixed = [(g, by_name[g.name]) for g in self.prefills if not g.adjustable]
        self.latency = measure_causal_latency(fixed, self.decode, self.loaded.model.config.vocab_size,
                                              options.bench_batches, options.bench_seqs, options.bench_iters,
                                              options.threads)  # fmt: skip

    def model_section(self) -> dict[str, Any]:
        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        config = model.config
        return {
            "architecture": "gpt2", "family": CAUSAL_LM, "num_layers": model.num_layers, "hidden_size": config.n_embd,
            "num_heads": config.n_head, "intermediate_size": config.n_inner or 4 * config.n_embd, "labels": [],
            "max_length": config.n_positions, "inputs": list(self.inputs),
            "vocab_size": config.vocab_size, "min_keep": model.min_keep,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id, "padding_side": "left",
            "checkpoint_training": {k: v for k, v in self.loaded.acc_config.training.items()
                                    if k in ("data", "perplexity")},
        }  # fmt: skip

    def sections(self, profiles: list[Profile], failures: list[str]) -> dict[str, Any]:
        return {
            "decode": {"graph": f"{GRAPHS_DIR}/{DECODE_NAME}.onnx", "inputs": list(self.decode.input_names),
                       "outputs": list(self.decode.output_names)},
            "tables": {
                "accuracy": [],
                "latency": [row.to_manifest_row() for row in self.latency],
                "decode_latency": [row.to_decode_row() for row in self.latency],
            },
            "validation": {
                "reports": [r.to_dict() for r in self.reports], "tolerance": self.tolerance.__dict__,
                "grid": self.options.validate_grid, "failures": failures,
            },
        }  # fmt: skip

    def result(
        self, bundle: Path, profiles: list[Profile], failures: list[str], triton: Path | None
    ) -> CausalExportResult:
        return CausalExportResult(bundle, summary_rows(profiles, self.reports, self.latency), self.latency, failures)

    @staticmethod
    def render_summary(result: Any) -> Any:
        from .summary import render_causal_summary

        return render_causal_summary(result)


def summary_rows(
    profiles: list[Profile], reports: list[CausalReport], latency: list[CausalLatencyRow]
) -> list[CausalSummaryRow]:
    """Per profile, from its own prefill graph: next-token and greedy agreement, cache lengths, TTFT speedup."""
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
