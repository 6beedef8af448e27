"""``Seq2SeqExport``: T5 through the export pipeline — an encoder graph per profile (with ``ai.acc::TokenSelect``)
plus one decoder-step graph that cross-attends to the kept encoder vectors, validated end to end by greedy
generation under the checkpoint's instruction template. fp32, eager attention, SST-2 dev validation only: the other
options are refused by ``check_options``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from acc.modeling.checkpoint import SEQ2SEQ
from acc.profiles import Profile
from acc.runtime.bundle_format import LatencyRow
from acc.runtime.seq2seq_names import DECODER_NAME, ENCODER_HIDDEN, ENCODER_INPUTS, ENCODER_MASK

from ..config import AXES_BS, AccOnnxConfig
from ..encoder import SYNTHETIC, SummaryRow, accuracy_rows, graph_specs
from ..encoder import summary_rows as encoder_summary_rows
from ..export import ADJUSTABLE_NAME, ExportedGraph
from ..family import GRAPHS_DIR, BuiltGraph, ExportFamily, ort_session, profiles_of, progress_bar
from ..tokenizer_file import resolve_max_length
from ..validate import FAST_GRID, SLOW_GRID, GraphReport, check_reports
from .export import DecoderGraph, export_decoder, export_encoder
from .latency import GenerationCell, measure_seq2seq_latency
from .validate import measure_seq2seq, prompt_batches, synthetic_prompts

FAMILY = SEQ2SEQ
SEQ2SEQ_MAX_LENGTH = 128  # T5 has relative positions, no limit of its own; the shipped t5-sst2 trained at 128


@dataclass
class Seq2SeqSummaryRow(SummaryRow):
    """One line of the printed summary: a profile's encoder graph, validated end to end with the decoder."""

    generation_ms: float | None = None  # whole greedy generation, smallest latency cell


@dataclass
class Seq2SeqExportResult:
    bundle: Path
    rows: list[Seq2SeqSummaryRow]
    template: str
    latency: list[LatencyRow] = field(default_factory=list)
    generation: list[GenerationCell] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    family: str = FAMILY
    triton: Path | None = None  # always None: --triton is refused for T5


class Seq2SeqExport(ExportFamily):
    """T5: encoder graphs per profile plus a decoder step; tolerances as the encoder classifiers'."""

    name = SEQ2SEQ
    label = "t5 (seq2seq)"
    unsupported = ("validation_data", "precision", "int8", "attention", "engine", "engine_precision", "engine_batch",
                   "engine_seq", "engine_target", "triton", "triton_options")  # fmt: skip
    step_graphs = (DECODER_NAME,)
    inputs: ClassVar[dict[str, dict[int, str]]] = {name: AXES_BS for name in ENCODER_INPUTS}

    def load(self) -> Any:
        from acc.modeling.seq2seq.checkpoint import load_seq2seq
        from acc.modeling.seq2seq.prompts import templates_from_json

        options = self.options
        self.loaded = loaded = load_seq2seq(options.model)
        max_length = resolve_max_length(options.max_length, None, SEQ2SEQ_MAX_LENGTH)
        self.config = AccOnnxConfig(
            "t5", self.inputs, vocab_size=int(loaded.model.config.vocab_size), max_length=max_length
        ).with_atol(options.atol)  # the encoders' default tolerances
        self.template = templates_from_json(loaded.prompts)[0][0]  # validated under the first training template
        self.tokenizer, self.max_length = loaded.tokenizer, self.config.max_length
        self.latency: list[LatencyRow] = []
        self.generation: list[GenerationCell] = []
        return loaded.model

    def export_graphs(self, profiles: list[Profile], graphs_dir: Path) -> Iterator[BuiltGraph]:
        model = self.loaded.model
        self.graphs: list[ExportedGraph] = []
        for spec in graph_specs(profiles, self.options.adjustable):
            self.say(f"exporting encoder {spec.name}")
            self.graphs.append(export_encoder(model, spec, graphs_dir / f"{spec.name}.onnx"))
            yield BuiltGraph(spec.name, self.graphs[-1].path, len(self.graphs[-1].select_layers))
        self.say("exporting decoder step")
        self.decoder = export_decoder(model, graphs_dir / f"{DECODER_NAME}.onnx")
        self.spec = _decoder_spec(model, self.decoder)
        # The embedding table is stored once for encoder and decoder (the pipeline's shared weights file).
        yield BuiltGraph(DECODER_NAME, self.decoder.path, 0, per_profile=False)

    def validate(self, profiles: list[Profile]) -> list[str]:
        """Every encoder graph at its profiles, with the decoder, greedy: on SST-2 dev under the template (answers
        scored) and on a synthetic grid."""
        from acc.modeling.data import load_sst2
        from acc.modeling.seq2seq.data import label_token_ids

        options, config, loaded, template = self.options, self.config, self.loaded, self.template
        split = load_sst2("dev", options.data_dir).head(options.max_examples)
        answers = label_token_ids(loaded.tokenizer)
        grid = {"fast": FAST_GRID, "slow": SLOW_GRID, "none": ()}[options.validate_grid]
        jobs = [(g, p) for g in self.graphs for p in profiles_of(g.spec.name, g.spec.adjustable, profiles)]
        decoder_session = ort_session(self.decoder.path, options.threads)
        sessions: dict[Path, Any] = {}
        references: dict = {}
        self.reports: list[GraphReport] = []
        with progress_bar(options.progress, len(jobs), "validate") as bar:
            for graph, profile in jobs:
                self.say(f"validating {graph.spec.name} at {profile.name} (encoder + decoder, greedy)")
                session = sessions.setdefault(graph.path, ort_session(graph.path, options.threads))
                common = (session, decoder_session, self.spec, loaded.model, graph)
                batches = prompt_batches(split, loaded.tokenizer, template, 32, config.max_length)
                self.reports.append(measure_seq2seq(*common, batches, f"sst2-dev:{template.name}", profile.keep_ratios,
                                                    profile.name, answers, max(len(a) for a in answers),
                                                    references))  # fmt: skip
                if grid:
                    self.reports.append(measure_seq2seq(*common, synthetic_prompts(config, grid), SYNTHETIC,
                                                        profile.keep_ratios, profile.name,
                                                        reference_cache=references))  # fmt: skip
                bar.update(1)
        return check_reports(self.reports, config, allow_mismatch=options.allow_mismatch)

    def time(self, profiles: list[Profile]) -> None:
        self.say("measuring CPU latency (encoder graphs, whole generations)")
        options = self.options
        runs = [(g, p, f"{ADJUSTABLE_NAME}@{p.name}" if g.spec.adjustable else g.spec.name)
                for g in self.graphs for p in profiles_of(g.spec.name, g.spec.adjustable, profiles)]  # fmt: skip
        self.latency, self.generation = measure_seq2seq_latency(
            runs, self.decoder.path, self.spec, self.config.vocab_size, options.bench_batches, options.bench_seqs,
            options.bench_iters, options.threads, options.progress,
        )  # fmt: skip

    def model_section(self) -> dict[str, Any]:
        model, hf = self.loaded.model, self.loaded.model.config
        return {
            "architecture": "t5", "family": FAMILY, "num_layers": model.num_layers, "hidden_size": int(hf.d_model),
            "num_heads": int(hf.num_heads), "intermediate_size": int(hf.d_ff),
            "labels": list(self.loaded.acc_config.labels), "max_length": self.config.max_length,
            "inputs": list(self.inputs), "min_keep": model.min_keep,
            "checkpoint_accuracy": self.loaded.acc_config.accuracy,
            "num_decoder_layers": model.num_decoder_layers, "vocab_size": int(hf.vocab_size),
        }  # fmt: skip

    def sections(self, profiles: list[Profile], failures: list[str]) -> dict[str, Any]:
        config, latency = self.config, self.latency
        accuracy = accuracy_rows(self.reports)
        return {
            "seq2seq": {
                "decoder": asdict(self.spec),
                "encoder_outputs": [ENCODER_HIDDEN, ENCODER_MASK],
                "encoder_shape": asdict(self.loaded.model.shape),
                "prompts": self.loaded.prompts,
                "validation_template": self.template.name,
                "generation_latency": [cell.to_dict() for cell in self.generation],
                "speedup_scope": "profiles target encoder FLOPs only (the decoder is not counted)",
            },
            "tables": {"accuracy": accuracy, "latency": [c.to_json() for c in latency if "@" not in c.graph]},
            "validation": {
                "reports": [r.to_dict() for r in self.reports], "atol": config.atol,
                "min_label_agreement": config.min_label_agreement, "grid": self.options.validate_grid,
                "failures": failures, "adjustable_latency": [c.to_json() for c in latency if "@" in c.graph],
                "label_agreement_means": "identical greedy token sequences (ONNX Runtime vs PyTorch)",
            },
        }  # fmt: skip

    def result(
        self, bundle: Path, profiles: list[Profile], failures: list[str], triton: Path | None
    ) -> Seq2SeqExportResult:
        rows = summary_rows(profiles, self.reports, self.latency, self.generation)
        return Seq2SeqExportResult(bundle, rows, self.template.name, self.latency, self.generation, failures)

    @staticmethod
    def render_summary(result: Any) -> Any:
        from .summary import render_seq2seq_summary

        return render_seq2seq_summary(result)


def _decoder_spec(model: Any, decoder: DecoderGraph) -> Any:
    """What the runtime needs to feed the decoder step: its bundle path, cache geometry, special token ids."""
    from acc.runtime.seq2seq_step import DecoderSpec

    config = model.config
    return DecoderSpec(
        graph=f"{GRAPHS_DIR}/{decoder.path.name}", num_layers=decoder.num_layers,
        num_heads=decoder.num_heads, head_dim=decoder.head_dim, start_token_id=model.start_token_id,
        eos_token_id=int(config.eos_token_id), pad_token_id=int(config.pad_token_id),
    )  # fmt: skip


def summary_rows(profiles: list[Profile], reports: list[GraphReport], latency: list[LatencyRow],
                 generation: list[GenerationCell]) -> list[Seq2SeqSummaryRow]:  # fmt: skip
    """The encoder family's rows plus each profile's greedy generation time at the smallest latency cell."""
    smallest = min(((c.batch, c.seq) for c in generation), default=None)
    rows: list[Seq2SeqSummaryRow] = []
    for row in encoder_summary_rows(profiles, reports, latency):
        gen = next((g for g in generation if g.profile == row.profile and (g.batch, g.seq) == smallest), None)
        rows.append(Seq2SeqSummaryRow(**asdict(row), generation_ms=gen.p50_ms if gen else None))
    return rows
