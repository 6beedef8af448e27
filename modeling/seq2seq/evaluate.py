"""SST-2 accuracy of an ACC T5 per prompt template and per speedup (offline-tuning curves,
docs/METHOD.md#5-offline-tuning).

The model *generates* its answer greedily; a row is correct when the generated tokens are exactly the label
word and ``</s>``. Also reported: ``valid_fraction`` (the answer is one of the label words at all, which shows
whether a held-out template is followed) and ``constrained_accuracy`` (argmax over the label words' first tokens
only, the usual rank-classification score). Speedups are encoder FLOPs ratios; the decoder is not counted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from acc.modeling.evaluate import DENSE_NAME, REPORT_LENGTHS, eval_profiles, resolve_device
from acc.profiles import DEFAULT_REFERENCE_LENGTH, DataError, Profile, theoretical_speedup

from .data import instruction_batches, label_token_ids
from .prompts import PromptTemplate

if TYPE_CHECKING:
    import torch

    from .checkpoint import LoadedSeq2Seq


@dataclass(frozen=True)
class PromptEvalRow:
    """Accuracy of one profile under one template on one split."""

    template: str
    held_out: bool
    profile: str
    target_speedup: float
    keep_ratios: tuple[float, ...]
    theoretical_speedup_64: float
    theoretical_speedup_128: float
    theoretical_speedup_512: float
    accuracy: float
    constrained_accuracy: float | None
    valid_fraction: float
    kept_fraction: float
    examples: int
    dataset: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["keep_ratios"] = list(self.keep_ratios)
        return data


def evaluate_prompts(
    loaded: LoadedSeq2Seq,
    speedups: Sequence[float],
    templates: Sequence[PromptTemplate],
    held_out: Sequence[str] = (),
    data_dir: str | os.PathLike[str] | None = None,
    split: str = "dev",
    batch_size: int = 128,
    max_length: int = 128,
    max_examples: int | None = None,
    device: str = "cpu",
    reference_length: int = DEFAULT_REFERENCE_LENGTH,
    progress: bool = True,
) -> list[PromptEvalRow]:
    """Rows per (template, profile), dense first within each template. ``held_out`` names untrained templates.

    The model's training mode is restored afterwards, so a training loop can call this between epochs.
    """
    from tqdm.auto import tqdm

    from acc.modeling.data import load_sst2

    profiles = eval_profiles(loaded, speedups, reference_length)  # type: ignore[arg-type]
    data = load_sst2(split, data_dir).head(max_examples)
    if len(data) == 0:
        raise DataError(f"SST-2 split {split!r} has no examples; check the file under --data-dir")
    target = resolve_device(device)
    model = loaded.model.to(target)
    was_training = model.training
    model.eval()
    label_ids = label_token_ids(loaded.tokenizer)
    rows: list[PromptEvalRow] = []
    steps = len(templates) * len(profiles) * -(-len(data) // batch_size)
    bar = tqdm(total=steps, desc="eval", unit="batch", disable=not progress, leave=False)
    try:
        for template in templates:
            batches = list(instruction_batches(data, loaded.tokenizer, [template], batch_size, max_length))
            for profile in profiles:
                counts = _run_profile(model, profile, batches, label_ids, target, bar)
                rows.append(_row(template, template.name in held_out, profile, loaded, counts, len(data), split))
    finally:
        bar.close()
        model.train(was_training)
    return rows


def _run_profile(
    model: torch.nn.Module,
    profile: Profile,
    batches: Sequence[Any],
    label_ids: list[list[int]],
    device: torch.device,
    bar: Any,
) -> dict[str, float]:

    from acc.runtime.generate import GenerationConfig, generate

    from .decoding import TorchSeq2SeqStep

    ratios = None if profile.name == DENSE_NAME else profile.keep_ratios
    eos = int(model.config.eos_token_id)
    config = GenerationConfig(max_new_tokens=max(len(ids) for ids in label_ids), eos_token_id=eos, pad_token_id=eos)
    answers = {tuple(ids): label for label, ids in enumerate(label_ids)}
    first = [ids[0] for ids in label_ids]
    distinct_first = len(set(first)) == len(first)
    counts = {"correct": 0.0, "constrained": 0.0, "valid": 0.0, "kept": 0.0}
    for batch in batches:
        batch = batch.to(device)
        step = TorchSeq2SeqStep(model, batch.input_ids, batch.attention_mask, ratios)
        generation = generate(step, config)
        truth = batch.answers.tolist()
        for row, tokens in enumerate(generation.token_lists()):
            predicted = answers.get(tuple(tokens))
            counts["valid"] += predicted is not None
            counts["correct"] += predicted == truth[row]
        if distinct_first:
            choice = step.first_logits[:, first].argmax(dim=-1)
            counts["constrained"] += float((choice == batch.answers).sum())
        n_valid = batch.attention_mask.sum(dim=1).float()
        per_layer = [mask.sum(dim=1).float() / n_valid for mask in step.encoder.kept_masks]
        counts["kept"] += float(sum(per_layer).sum()) / len(per_layer)
        bar.update(1)
    counts["constrained"] = counts["constrained"] if distinct_first else float("nan")
    return counts


def _row(
    template: PromptTemplate,
    held_out: bool,
    profile: Profile,
    loaded: LoadedSeq2Seq,
    counts: dict[str, float],
    examples: int,
    split: str,
) -> PromptEvalRow:
    shape = loaded.model.shape
    at = {n: round(theoretical_speedup(profile.keep_ratios, shape, n, profile.min_keep), 4) for n in REPORT_LENGTHS}
    constrained = counts["constrained"]
    return PromptEvalRow(
        template=template.name,
        held_out=held_out,
        profile=profile.name,
        target_speedup=profile.target_speedup,
        keep_ratios=tuple(profile.keep_ratios),
        theoretical_speedup_64=at[64],
        theoretical_speedup_128=at[128],
        theoretical_speedup_512=at[512],
        accuracy=counts["correct"] / examples,
        constrained_accuracy=None if constrained != constrained else constrained / examples,
        valid_fraction=counts["valid"] / examples,
        kept_fraction=counts["kept"] / examples,
        examples=examples,
        dataset=f"sst2-{split}",
    )
