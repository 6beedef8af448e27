"""Held-out split and fast accuracy for searches; dev-set rows for arbitrary profiles (not only geometric ones).

Searches must not select on the data they report on, so the study holds part of SST-2 *train* out (and trains
every baseline on the rest). SST-2 train is mostly short phrases (median 7 words) while dev holds full sentences
(median 19), so the held-out part is drawn from phrases of at least ``min_words`` words, where elimination matters.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from acc.profiles import DataError, ModelError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from acc.modeling.checkpoint import LoadedModel
    from acc.modeling.data import Batch, Split
    from acc.modeling.evaluate import EvalRow
    from acc.profiles import Profile


def holdout_split(train: Split, count: int, min_words: int = 8, seed: int = 0) -> tuple[Split, Split]:
    """(training rest, held-out): ``count`` examples of ≥ ``min_words`` words drawn with ``seed``, order kept."""
    from acc.modeling.data import Split

    eligible = [i for i, text in enumerate(train.texts) if len(text.split()) >= min_words]
    if count > len(eligible):
        raise DataError(
            f"held-out split of {count} needs that many training phrases of >= {min_words} words, found "
            f"{len(eligible)}; hold out fewer examples or lower the word minimum"
        )
    chosen = set(random.Random(seed).sample(eligible, count))
    rest = [i for i in range(len(train)) if i not in chosen]
    held = sorted(chosen)

    def pick(indices: list[int], name: str) -> Split:
        return Split(name, [train.texts[i] for i in indices], [train.labels[i] for i in indices])

    return pick(rest, f"{train.name}-minus-heldout"), pick(held, f"{train.name}-heldout")


def eval_batches(
    tokenizer: PreTrainedTokenizerBase, split: Split, batch_size: int, max_length: int, device: torch.device | str
) -> list[Batch]:
    """Batches of the split sorted by length (little padding), tokenised once and moved to ``device`` once.

    A search evaluates hundreds of profiles on the same examples, so tokenising and copying per profile would cost
    more than the forward passes.
    """
    from acc.modeling.data import Split, iter_batches

    order = sorted(range(len(split)), key=lambda i: len(split.texts[i]))
    ordered = Split(split.name, [split.texts[i] for i in order], [split.labels[i] for i in order])
    return [batch.to(device) for batch in iter_batches(ordered, tokenizer, batch_size, max_length)]


def accuracy(model: torch.nn.Module, batches: Sequence[Batch], keep_ratios: Sequence[float] | None) -> float:
    """Fraction of correct predictions of one profile (None: dense); one host sync per profile."""
    import torch

    ratios = None if keep_ratios is None or all(r == 1.0 for r in keep_ratios) else keep_ratios
    if batches and next(model.parameters()).device != batches[0].input_ids.device:
        raise ModelError("model and evaluation batches are on different devices; move the model to the batches' device")
    was_training = model.training
    model.eval()
    correct = None
    count = 0
    with torch.inference_mode():
        for batch in batches:
            logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids, keep_ratios=ratios).logits
            hits = (logits.argmax(dim=-1) == batch.labels).sum()
            correct = hits if correct is None else correct + hits
            count += len(batch.indices)
    model.train(was_training)
    return float(correct) / count if count else 0.0


def evaluate_profiles(
    loaded: LoadedModel, profiles: Sequence[Profile], batches: Sequence[Batch], dataset: str, max_length: int
) -> list[EvalRow]:
    """acc-eval's rows (accuracy, kept fraction, theoretical speedups at 64/128/512) for any profiles."""
    import torch
    from tqdm.auto import tqdm

    from acc.modeling.evaluate import _row, _run_profile

    device = batches[0].input_ids.device if batches else torch.device("cpu")
    model = loaded.model.to(device)
    examples = sum(len(batch.indices) for batch in batches)
    was_training = model.training
    model.eval()
    rows = []
    bar = tqdm(total=len(profiles) * len(batches), disable=True)
    try:
        with torch.inference_mode():
            for profile in profiles:
                correct, kept, squared = _run_profile(model, profile, batches, device, bar)
                rows.append(_row(profile, loaded, correct, kept, examples, dataset, max_length, squared))
    finally:
        bar.close()
        model.train(was_training)
    return rows
