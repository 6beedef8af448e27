"""Validation of exported graphs against the PyTorch ACC model: measure first, decide separately.

``measure_graph`` runs ONNX Runtime and PyTorch on the same batches and records, per graph: logits max |diff|,
label agreement, accuracy of both on labelled data, and per layer how often the kept word-vectors differ.
``check_reports`` applies the policy and raises one ``ToleranceError`` that lists every failure.

Index flips are expected where two ACC scores are near-equal (different summation order, GPU top-k), and one
flip changes everything after it; so the logits tolerance is applied to samples whose kept sets all agree, while
label agreement covers every sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from acc.profiles import ToleranceError

from .export import KEEP_RATIOS_INPUT, ExportedGraph, kept_index_name

if TYPE_CHECKING:
    import torch

    from acc.modeling.data import Split
    from acc.modeling.model import AccEncoderForSequenceClassification

    from .config import AccOnnxConfig

FAST_GRID: tuple[tuple[int, int], ...] = ((1, 1), (1, 512), (4, 37), (8, 128), (32, 64), (2, 512))
SLOW_GRID: tuple[tuple[int, int], ...] = tuple((b, s) for b in (1, 2, 8, 32) for s in (1, 2, 7, 16, 64, 128, 256, 512))


@dataclass
class GraphReport:
    """What one graph did on one data source (a labelled split or the synthetic shape grid)."""

    graph: str
    source: str
    profile: str
    examples: int = 0
    max_abs_diff: float = 0.0  # over samples whose kept sets agree with PyTorch in every layer
    label_agreement: float = 1.0
    onnx_accuracy: float | None = None
    torch_accuracy: float | None = None
    index_mismatch: dict[str, float] = field(default_factory=dict)  # layer → fraction of samples whose set differs
    samples_with_flips: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InputBatch:
    """Model inputs as numpy (for ORT) plus optional labels."""

    feeds: dict[str, np.ndarray]
    labels: np.ndarray | None = None


def sst2_batches(split: Split, tokenizer: object, batch_size: int = 32, max_length: int = 128) -> Iterator[InputBatch]:
    """Batches of any text split (SST-2, a user's file) with dynamic padding, as the runtime tokenises them."""
    from acc.modeling.data import iter_batches

    for batch in iter_batches(split, tokenizer, batch_size, max_length):
        yield InputBatch(
            {
                "input_ids": batch.input_ids.numpy(),
                "attention_mask": batch.attention_mask.numpy(),
                "token_type_ids": batch.token_type_ids.numpy(),
            },
            None if batch.labels is None else batch.labels.numpy(),
        )


def synthetic_batches(config: AccOnnxConfig, grid: Sequence[tuple[int, int]], seed: int = 0) -> Iterator[InputBatch]:
    """Random token ids over a (batch, seq) grid; every row gets its own random valid length in [1, seq]."""
    rng = np.random.default_rng(seed)
    for batch, seq_len in grid:
        lengths = rng.integers(1, seq_len + 1, size=batch)
        lengths[0] = seq_len  # one full row, so the padded length is really seq_len
        mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.int64)
        ids = rng.integers(1000, min(config.vocab_size, 30000), size=(batch, seq_len)).astype(np.int64) * mask
        yield InputBatch({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})


def measure_graph(
    session: object,
    model: AccEncoderForSequenceClassification,
    graph: ExportedGraph,
    batches: Iterable[InputBatch],
    source: str,
    keep_ratios: Sequence[float] | None = None,
    profile_name: str | None = None,
    reference_cache: dict | None = None,
) -> GraphReport:
    """Run ORT ``session`` and the PyTorch model on ``batches``; ``keep_ratios`` feeds the adjustable graph.

    ``reference_cache`` (any dict, owned by the caller) keeps PyTorch outputs keyed by source, ratios, selected
    layers and batch index, so a graph checked at a profile already checked elsewhere (the adjustable graph at
    each fixed profile) does not run the PyTorch model again. Batches must then be deterministic per source.
    """

    ratios = list(keep_ratios) if keep_ratios is not None else list(graph.spec.profile.keep_ratios)
    name = profile_name or graph.spec.name
    report = GraphReport(graph=graph.spec.name, source=source, profile=name)
    agree = correct_onnx = correct_torch = 0
    labelled = False  # accuracy only for class labels (none for unlabelled texts, the grid, or regression targets)
    flips_per_layer = {layer: 0 for layer in graph.select_layers}
    cache = {} if reference_cache is None else reference_cache
    for index, batch in enumerate(batches):
        # Families without segments (RoBERTa, DistilBERT, MPNet) export graphs that take no token_type_ids.
        feeds = {k: v for k, v in batch.feeds.items() if not graph.input_names or k in graph.input_names}
        if graph.spec.adjustable:
            feeds[KEEP_RATIOS_INPUT] = np.asarray(ratios, dtype=np.float32)
        outputs = dict(zip(graph.output_names, session.run(list(graph.output_names), feeds)))
        key = (source, tuple(ratios), graph.select_layers, index)
        if key not in cache:
            cache[key] = _reference(model, batch, ratios, graph.select_layers)
        ref = cache[key]
        flipped = np.zeros(len(batch.feeds["input_ids"]), dtype=bool)
        for layer in graph.select_layers:
            differs = _kept_sets_differ(
                outputs[kept_index_name(layer)], ref.kept_positions[layer], ref.kept_masks[layer]
            )
            flips_per_layer[layer] += int(differs.sum())
            flipped |= differs
        logits = outputs["logits"]
        ref_logits = ref.logits.numpy()
        if (~flipped).any():
            diff = float(np.abs(logits[~flipped] - ref_logits[~flipped]).max())
            report.max_abs_diff = max(report.max_abs_diff, diff)
        agree += int((logits.argmax(-1) == ref_logits.argmax(-1)).sum())
        if batch.labels is not None and np.issubdtype(batch.labels.dtype, np.integer):
            labelled = True
            correct_onnx += int((logits.argmax(-1) == batch.labels).sum())
            correct_torch += int((ref_logits.argmax(-1) == batch.labels).sum())
        report.samples_with_flips += int(flipped.sum())
        report.examples += len(logits)
    if report.examples:
        report.label_agreement = agree / report.examples
        report.index_mismatch = {str(layer + 1): flips / report.examples for layer, flips in flips_per_layer.items()}
        if labelled:
            report.onnx_accuracy = correct_onnx / report.examples
            report.torch_accuracy = correct_torch / report.examples
    return report


def _reference(
    model: AccEncoderForSequenceClassification, batch: InputBatch, ratios: list[float], select_layers: tuple[int, ...]
):  # noqa: ANN202
    import torch

    with torch.no_grad():
        return model(
            torch.from_numpy(batch.feeds["input_ids"]),
            torch.from_numpy(batch.feeds["attention_mask"]),
            torch.from_numpy(batch.feeds["token_type_ids"]),
            keep_ratios=ratios,
            select_layers=list(select_layers),
        )


def _kept_sets_differ(onnx_index: np.ndarray, positions: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Per sample: does the set of kept original positions differ? (ORT pads with −1, PyTorch with mask 0.)"""
    ref = np.where(mask.numpy() > 0, positions.numpy(), -1)
    if ref.shape != onnx_index.shape:
        return np.ones(len(ref), dtype=bool)
    return (np.sort(ref, axis=1) != np.sort(onnx_index, axis=1)).any(axis=1)


def check_reports(reports: Sequence[GraphReport], config: AccOnnxConfig, allow_mismatch: bool = False) -> list[str]:
    """Every tolerance failure as one line; raises ``ToleranceError`` with all of them unless ``allow_mismatch``."""
    failures: list[str] = []
    atol = config.atol_for("logits")
    for report in reports:
        where = f"graph {report.graph} (profile {report.profile}, {report.source}, {report.examples} samples)"
        if report.max_abs_diff > atol:
            failures.append(f"{where}: logits max|diff| {report.max_abs_diff:.2e} > atol {atol:.0e}")
        if report.label_agreement < config.min_label_agreement:
            failures.append(f"{where}: label agreement {report.label_agreement:.4f} < {config.min_label_agreement}")
    return gate_failures(failures, allow_mismatch)


def gate_failures(failures: list[str], allow_mismatch: bool) -> list[str]:
    """Every family's gate: the failures, returned to be recorded when accepted, else one ``ToleranceError``."""
    if failures and not allow_mismatch:
        raise ToleranceError(
            f"{len(failures)} validation failure(s): "
            + "; ".join(failures)
            + "; re-export, or pass --atol / --allow-mismatch to accept (recorded in the bundle)"
        )
    return failures
