"""Validation of exported causal graphs against the PyTorch ACC GPT-2: measure first, decide separately.

Three measurements per profile, each on left-padded prompts:

* prefill (``measure_prefill``): next-token logits, per-layer K/V and — the method's contract — per-layer cache
  lengths, which must equal the profile's keep counts for every sample (``acc.profiles.keep_counts``);
* the decode graph fed with the prefill's presents (``measure_generation``): greedy tokens of ORT and PyTorch through
  the same ``acc.runtime.generate`` loop, and the largest per-step logits difference.

Kept-set flips (near-equal ACC scores summed in another order) change everything downstream, so, as for BERT, the
logits/K-V tolerance applies to samples whose kept sets agree in every layer; agreement counts cover every sample.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from acc.profiles import keep_counts
from acc.runtime.causal_names import KEEP_RATIOS_INPUT, kept_index_name, present_names
from acc.runtime.causal_step import OrtCausalStep, PromptBatch, left_pad

from ..validate import _kept_sets_differ, gate_failures
from .export import CausalGraph

if TYPE_CHECKING:
    from acc.modeling.causal.model import AccGPT2LMHeadModel

CAUSAL_FAST_GRID: tuple[tuple[int, int], ...] = ((1, 1), (1, 97), (3, 40), (4, 128), (2, 256))
CAUSAL_SLOW_GRID: tuple[tuple[int, int], ...] = tuple((b, s) for b in (1, 2, 8) for s in (1, 2, 16, 64, 200, 512))


@dataclass(frozen=True)
class CausalTolerance:
    """Pass/fail policy: logits and K/V atol (fp32), minimum next-token and greedy-sequence agreement."""

    logits_atol: float = 1e-4
    cache_atol: float = 1e-4
    min_token_agreement: float = 0.99
    min_sequence_agreement: float = 0.95


@dataclass
class CausalReport:
    """What one prefill graph did at one profile on one prompt source (or, kind="generate", the greedy loop)."""

    graph: str
    source: str
    profile: str
    kind: str = "prefill"
    examples: int = 0
    max_abs_diff: float = 0.0  # logits, over samples whose kept sets agree
    max_cache_diff: float = 0.0  # present K/V, same samples
    token_agreement: float = 1.0  # argmax of the next-token logits (prefill) / identical greedy rows (generate)
    cache_length_errors: int = 0  # samples whose per-layer cache length differs from the profile's keep counts
    index_mismatch: dict[str, float] = field(default_factory=dict)
    samples_with_flips: int = 0
    new_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def synthetic_prompts(vocab_size: int, grid: Sequence[tuple[int, int]], seed: int = 0) -> Iterator[PromptBatch]:
    """Random ids over a (batch, seq) grid; every row gets its own valid length in [1, seq] (row 0 full)."""
    rng = np.random.default_rng(seed)
    for batch, seq in grid:
        lengths = [seq] + [int(rng.integers(1, seq + 1)) for _ in range(batch - 1)]
        yield left_pad([rng.integers(0, vocab_size, size=n).tolist() for n in lengths], 0)


def text_prompts(tokenizer: Any, texts: Sequence[str], per_prompt: int = 6, batch_size: int = 8,
                 max_length: int = 256) -> Iterator[PromptBatch]:  # fmt: skip
    """Real English prompts: ``per_prompt`` consecutive sentences joined into one paragraph each, left-padded."""
    paragraphs = [" ".join(texts[i : i + per_prompt]) for i in range(0, len(texts), per_prompt)]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(paragraphs), batch_size):
        rows = [tokenizer(p)["input_ids"][-max_length:] for p in paragraphs[start : start + batch_size]]
        yield left_pad([r for r in rows if r] or [[pad]], pad)


def measure_prefill(
    session: Any, model: AccGPT2LMHeadModel, graph: CausalGraph, batches: Iterator[PromptBatch], source: str,
    keep_ratios: Sequence[float], profile_name: str,
) -> CausalReport:  # fmt: skip
    """ORT prefill vs PyTorch prefill on ``batches`` at ``keep_ratios`` (fed to the adjustable graph)."""
    import torch

    report = CausalReport(graph=graph.name, source=source, profile=profile_name)
    flips = {layer: 0 for layer in graph.select_layers}
    agree = 0
    for batch in batches:
        feeds = batch.feeds()
        if graph.adjustable:
            feeds[KEEP_RATIOS_INPUT] = np.asarray(keep_ratios, dtype=np.float32)
        out = dict(zip(graph.output_names, session.run(list(graph.output_names), feeds)))
        with torch.no_grad():
            ref = model.prefill(torch.as_tensor(batch.input_ids), torch.as_tensor(batch.attention_mask), list(keep_ratios),
                                select_layers=list(graph.select_layers))  # fmt: skip
        flipped = np.zeros(len(batch.input_ids), dtype=bool)
        for layer in graph.select_layers:
            differs = _kept_sets_differ(out[kept_index_name(layer)], ref.kept_positions[layer], ref.kept_masks[layer])
            flips[layer] += int(differs.sum())
            flipped |= differs
        report.cache_length_errors += _cache_length_errors(out, batch.attention_mask, keep_ratios, model.min_keep)
        keep = ~flipped
        ref_logits = ref.logits.numpy()
        if keep.any():
            report.max_abs_diff = max(report.max_abs_diff, float(np.abs(out["logits"][keep] - ref_logits[keep]).max()))
            for layer, entry in enumerate(ref.cache):
                key, value, _ = present_names(layer)
                for name, tensor in ((key, entry.key), (value, entry.value)):
                    ours, theirs = out[name][keep], tensor.numpy()[keep]
                    if ours.shape == theirs.shape:
                        real = (out[present_names(layer)[2]][keep] > 0)[:, None, :, None]
                        diff = float(np.abs(np.where(real, ours - theirs, 0.0)).max()) if ours.size else 0.0
                        report.max_cache_diff = max(report.max_cache_diff, diff)
                    else:
                        report.max_cache_diff = float("inf")
        agree += int((out["logits"].argmax(-1) == ref_logits.argmax(-1)).sum())
        report.samples_with_flips += int(flipped.sum())
        report.examples += len(batch.input_ids)
    if report.examples:
        report.token_agreement = agree / report.examples
        report.index_mismatch = {str(layer): count / report.examples for layer, count in flips.items()}
    return report


def measure_generation(
    prefill: Any, decode: Any, model: AccGPT2LMHeadModel, graph: CausalGraph, batches: Iterator[PromptBatch],
    keep_ratios: Sequence[float], profile_name: str, new_tokens: int = 8,
) -> CausalReport:  # fmt: skip
    """Greedy decoding through ORT (prefill + decode graphs) and PyTorch; fraction of identical rows."""
    import torch

    from acc.modeling.causal.decoding import TorchCausalStep
    from acc.runtime.generate import GenerationConfig, generate

    report = CausalReport(graph=graph.name, source="text", profile=profile_name, kind="generate", new_tokens=new_tokens)
    config = GenerationConfig(max_new_tokens=new_tokens)
    same = 0
    for batch in batches:
        torch_step = TorchCausalStep(model, torch.as_tensor(batch.input_ids), torch.as_tensor(batch.attention_mask),
                                     list(keep_ratios))  # fmt: skip
        ort_step = OrtCausalStep(prefill, decode, model.num_layers, batch, keep_ratios)
        ours, theirs = generate(ort_step, config), generate(torch_step, config)
        same += int((ours.tokens == theirs.tokens).all(axis=1).sum())
        report.examples += len(batch.input_ids)
    report.token_agreement = same / max(report.examples, 1)
    return report


def check_causal_reports(
    reports: Sequence[CausalReport], tolerance: CausalTolerance, allow_mismatch: bool = False
) -> list[str]:
    """Every failure as one line; raises one ``ToleranceError`` listing them unless ``allow_mismatch``."""
    failures: list[str] = []
    for r in reports:
        where = f"graph {r.graph} (profile {r.profile}, {r.source}, {r.examples} samples)"
        if r.kind == "generate":
            if r.token_agreement < tolerance.min_sequence_agreement:
                failures.append(
                    f"{where}: greedy tokens identical in {r.token_agreement:.3f} of rows < {tolerance.min_sequence_agreement}"
                )
            continue
        if r.max_abs_diff > tolerance.logits_atol:
            failures.append(f"{where}: logits max|diff| {r.max_abs_diff:.2e} > atol {tolerance.logits_atol:.0e}")
        if r.max_cache_diff > tolerance.cache_atol:
            failures.append(f"{where}: KV cache max|diff| {r.max_cache_diff:.2e} > atol {tolerance.cache_atol:.0e}")
        if r.cache_length_errors:
            failures.append(
                f"{where}: {r.cache_length_errors} samples' cache lengths differ from the profile's keep counts"
            )
        if r.token_agreement < tolerance.min_token_agreement:
            failures.append(f"{where}: next-token agreement {r.token_agreement:.4f} < {tolerance.min_token_agreement}")
    return gate_failures(failures, allow_mismatch)


def _cache_length_errors(
    outputs: dict[str, np.ndarray], mask: np.ndarray, ratios: Sequence[float], min_keep: int
) -> int:
    """Samples whose real cache entries per layer differ from ``keep_counts(ratios, n_valid)``."""
    errors = 0
    layers = len(ratios)
    for row, n_valid in enumerate(mask.sum(axis=1)):
        expected = keep_counts(ratios, int(n_valid), min_keep)
        got = [int(outputs[present_names(layer)[2]][row].sum()) for layer in range(layers)]
        errors += int(got != expected)
    return errors
