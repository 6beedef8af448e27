"""Validation of exported T5 graphs against the PyTorch ACC T5, end to end: encoder graph + decoder steps.

Per batch, both sides generate greedily through the same decoding loop (``acc.runtime.generate``): ONNX Runtime
over the encoder graph of the profile and the decoder graph, PyTorch over ``AccT5ForConditionalGeneration``. The
record is the BERT one (``acc.exporter.validate.GraphReport``) with seq2seq meanings, so ``check_reports`` applies
the same policy:

- ``max_abs_diff``: first decoder step logits, over samples whose kept sets agree in every layer;
- ``label_agreement``: fraction of samples whose generated token sequences are identical;
- ``onnx_accuracy`` / ``torch_accuracy``: generated answer == the SST-2 label word (labelled data only);
- ``index_mismatch``: per pruned layer, fraction of samples whose kept set differs (top-k near-ties).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..export import KEEP_RATIOS_INPUT, ExportedGraph, kept_index_name
from ..validate import GraphReport, InputBatch, _kept_sets_differ, synthetic_batches

if TYPE_CHECKING:
    from acc.modeling.data import Split
    from acc.modeling.seq2seq.model import AccT5ForConditionalGeneration
    from acc.modeling.seq2seq.prompts import PromptTemplate
    from acc.runtime.seq2seq_step import DecoderSpec

SYNTHETIC_NEW_TOKENS = 6


def prompt_batches(split: Split, tokenizer: Any, template: PromptTemplate, batch_size: int = 32,
                   max_length: int = 128) -> Iterator[InputBatch]:  # fmt: skip
    """SST-2 examples under one template, tokenised as training and the runtime do; labels are 0/1."""
    from acc.modeling.seq2seq.data import instruction_batches

    for batch in instruction_batches(split, tokenizer, [template], batch_size, max_length):
        yield InputBatch({"input_ids": batch.input_ids.numpy(), "attention_mask": batch.attention_mask.numpy()},
                         batch.answers.numpy())  # fmt: skip


def synthetic_prompts(config: Any, grid: Sequence[tuple[int, int]]) -> Iterator[InputBatch]:
    """Random token rows over a (batch, seq) grid (``acc.exporter.validate.synthetic_batches``), encoder feeds only."""
    for batch in synthetic_batches(config, grid):
        yield InputBatch({name: batch.feeds[name] for name in ("input_ids", "attention_mask")})


def measure_seq2seq(
    encoder_session: Any,
    decoder_session: Any,
    decoder: DecoderSpec,
    model: AccT5ForConditionalGeneration,
    graph: ExportedGraph,
    batches: Iterable[InputBatch],
    source: str,
    keep_ratios: Sequence[float],
    profile_name: str,
    answers: Sequence[Sequence[int]] | None = None,
    max_new_tokens: int = SYNTHETIC_NEW_TOKENS,
    reference_cache: dict | None = None,
) -> GraphReport:
    """Generate with ORT and PyTorch on ``batches``; ``answers``: token ids of each label (labelled data only).

    ``reference_cache`` (caller-owned dict) keeps PyTorch results keyed by source, ratios, selected layers and
    batch index, so the adjustable graph checked at a fixed profile's ratios reuses that profile's reference.
    """
    import torch

    from acc.modeling.seq2seq.decoding import TorchSeq2SeqStep
    from acc.runtime.generate import GenerationConfig, generate
    from acc.runtime.seq2seq_step import GraphSeq2SeqStep

    ratios = [float(r) for r in keep_ratios]
    config = GenerationConfig(max_new_tokens=max_new_tokens, eos_token_id=decoder.eos_token_id,
                              pad_token_id=decoder.pad_token_id)  # fmt: skip
    targets = {tuple(ids): label for label, ids in enumerate(answers or [])}
    report = GraphReport(graph=graph.spec.name, source=source, profile=profile_name)
    flips_per_layer = {layer: 0 for layer in graph.select_layers}
    agree = correct_onnx = correct_torch = 0
    cache = {} if reference_cache is None else reference_cache
    run_encoder = session_runner(encoder_session)
    run_decoder = session_runner(decoder_session)
    for index, batch in enumerate(batches):
        feeds = dict(batch.feeds)
        if graph.spec.adjustable:
            feeds[KEEP_RATIOS_INPUT] = np.asarray(ratios, dtype=np.float32)
        onnx_step = GraphSeq2SeqStep(run_encoder, run_decoder, decoder, feeds)
        onnx_tokens = generate(onnx_step, config).token_lists()
        key = (source, tuple(ratios), graph.select_layers, max_new_tokens, index)
        if key not in cache:
            torch_step = TorchSeq2SeqStep(model, torch.from_numpy(batch.feeds["input_ids"]),
                                          torch.from_numpy(batch.feeds["attention_mask"]), ratios,
                                          list(graph.select_layers))  # fmt: skip
            cache[key] = (generate(torch_step, config).token_lists(), torch_step.first_logits.numpy(),
                          torch_step.encoder.kept_positions, torch_step.encoder.kept_masks)  # fmt: skip
        torch_tokens, torch_logits, kept_positions, kept_masks = cache[key]
        flipped = np.zeros(len(onnx_tokens), dtype=bool)
        for layer in graph.select_layers:
            differs = _kept_sets_differ(onnx_step.encoder_outputs[kept_index_name(layer)], kept_positions[layer],
                                        kept_masks[layer])  # fmt: skip
            flips_per_layer[layer] += int(differs.sum())
            flipped |= differs
        if (~flipped).any():
            diff = float(np.abs(onnx_step.first_logits[~flipped] - torch_logits[~flipped]).max())
            report.max_abs_diff = max(report.max_abs_diff, diff)
        agree += sum(a == b for a, b in zip(onnx_tokens, torch_tokens))
        if batch.labels is not None:
            correct_onnx += sum(targets.get(tuple(t)) == y for t, y in zip(onnx_tokens, batch.labels.tolist()))
            correct_torch += sum(targets.get(tuple(t)) == y for t, y in zip(torch_tokens, batch.labels.tolist()))
        report.samples_with_flips += int(flipped.sum())
        report.examples += len(onnx_tokens)
    if report.examples:
        report.label_agreement = agree / report.examples
        report.index_mismatch = {str(layer + 1): n / report.examples for layer, n in flips_per_layer.items()}
        if answers is not None:
            report.onnx_accuracy = correct_onnx / report.examples
            report.torch_accuracy = correct_torch / report.examples
    return report


def session_runner(session: Any) -> Any:
    """An ORT session as ``feeds → {name: output}``, feeding only the inputs the graph declares."""
    names = [node.name for node in session.get_outputs()]
    inputs = [node.name for node in session.get_inputs()]

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, {name: feeds[name] for name in inputs})))

    return run
