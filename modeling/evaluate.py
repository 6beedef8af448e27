"""Accuracy of one ACC model at several speedups: offline-tuning, then report every profile
(docs/METHOD.md#5-offline-tuning).

One model serves every speedup, so evaluation tokenises the split once and runs it once per profile, the dense
model first: every pruned row is read against that baseline, measured in the same process on the same data.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acc.profiles import (
    DEFAULT_REFERENCE_LENGTH,
    DataError,
    ModelError,
    Profile,
    profile_for_speedup,
    theoretical_speedup,
)

if TYPE_CHECKING:
    import torch
    from rich.table import Table

    from .checkpoint import LoadedModel
    from .data import Batch
    from .example_files import Examples

DENSE_NAME = "dense"
REPORT_LENGTHS = (64, 128, 512)


@dataclass(frozen=True)
class EvalRow:
    """Accuracy of one profile on one split. Theoretical speedups are encoder FLOPs ratios at 64/128/512 tokens.

    ``kept_fraction`` is what the data really saw: word-vectors entering each layer over the sample's valid
    length, averaged over layers and samples (1.0 for dense). ceil() and ``min_keep`` keep relatively more of a
    short sentence, so on SST-2 it sits above what the speedup at 128 tokens suggests.
    """

    profile: str
    target_speedup: float
    keep_ratios: tuple[float, ...]
    theoretical_speedup_64: float
    theoretical_speedup_128: float
    theoretical_speedup_512: float
    accuracy: float | None  # None for a regression head (num_labels=1): see ``mse``
    examples: int
    dataset: str
    kept_fraction: float
    max_length: int
    mse: float | None = None  # regression heads only: mean squared error against the targets

    def to_dict(self) -> dict[str, Any]:
        """The accuracy-table row of ``acc_config.json`` (and of ``acc-eval --json``)."""
        return {
            "speedup": self.target_speedup,
            "profile": self.profile,
            "keep_ratios": list(self.keep_ratios),
            "theoretical_speedup_64": self.theoretical_speedup_64,
            "theoretical_speedup_128": self.theoretical_speedup_128,
            "theoretical_speedup_512": self.theoretical_speedup_512,
            "accuracy": self.accuracy,
            "dataset": self.dataset,
            "examples": self.examples,
            "kept_fraction": self.kept_fraction,
            "max_length": self.max_length,
            **({"mse": self.mse} if self.mse is not None else {}),
        }


def rows_to_json(rows: Sequence[EvalRow]) -> list[dict[str, Any]]:
    """Rows as plain dicts, ready for ``json.dumps`` (numbers stay numbers)."""
    return [row.to_dict() for row in rows]


def resolve_device(device: str) -> torch.device:
    """``auto`` → cuda when available, else cpu; a CUDA device asked for on a machine without one fails here."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ModelError(f"unknown device {device!r} ({exc}); pass auto, cpu or cuda[:N]") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for but torch sees no CUDA GPU; pass --device cpu or auto")
    return resolved


def eval_profiles(
    loaded: LoadedModel, speedups: Sequence[float], reference_length: int = DEFAULT_REFERENCE_LENGTH
) -> list[Profile]:
    """Dense first, then one offline-tuned profile per requested speedup (1.0 and repeats dropped).

    All profiles are computed before any batch runs, so an unreachable speedup fails in milliseconds.
    """
    shape = loaded.model.shape
    min_keep = loaded.model.min_keep
    profiles = [profile_for_speedup(shape, 1.0, reference_length, min_keep, name=DENSE_NAME)]
    seen = {1.0}
    for speedup in speedups:
        if float(speedup) in seen:
            continue
        seen.add(float(speedup))
        profiles.append(profile_for_speedup(shape, float(speedup), reference_length, min_keep))
    return profiles


def evaluate(
    loaded: LoadedModel | str | os.PathLike[str],
    speedups: Sequence[float],
    data_dir: str | os.PathLike[str] | None = None,
    split: str = "dev",
    batch_size: int = 64,
    max_length: int = 128,
    max_examples: int | None = None,
    device: str = "cpu",
    reference_length: int = DEFAULT_REFERENCE_LENGTH,
    progress: bool = True,
    data: Examples | None = None,
) -> list[EvalRow]:
    """SST-2 accuracy of the dense model and of each speedup's profile; the dense row comes first.

    ``data`` (labelled ``Examples``, e.g. an ``--eval-file``) replaces SST-2's ``split``; with float labels (a
    regression head) the rows report ``mse`` instead of accuracy.

    ``loaded`` may be a model name (alias, directory or hub id), loaded here. A ``LoadedModel`` is moved to
    ``device`` and put in eval mode for the run; its previous training mode is restored afterwards, so the
    fine-tuning loop can call this between epochs.
    """
    import torch
    from tqdm.auto import tqdm

    from .checkpoint import LoadedModel, load_model
    from .data import iter_batches, load_sst2

    if not isinstance(loaded, LoadedModel):
        loaded = load_model(loaded)
    profiles = eval_profiles(loaded, speedups, reference_length)
    if max_examples is not None and max_examples < 1:
        raise DataError(f"max_examples={max_examples} leaves nothing to evaluate; pass a positive count or none")
    data = (data if data is not None else load_sst2(split, data_dir)).head(max_examples)
    if len(data) == 0:
        raise DataError(f"eval set {data.name!r} has no examples; check the file (--data-dir, --eval-file)")
    dataset = f"sst2-{split}" if data.name == split else data.name
    target = resolve_device(device)
    batches = list(iter_batches(data, loaded.tokenizer, batch_size, max_length))
    model = loaded.model.to(target)
    was_training = model.training
    model.eval()
    rows: list[EvalRow] = []
    bar = tqdm(total=len(profiles) * len(batches), desc="eval", unit="batch", disable=not progress, leave=False)
    try:
        with torch.inference_mode():
            for profile in profiles:
                correct, kept, squared = _run_profile(model, profile, batches, target, bar)
                rows.append(_row(profile, loaded, correct, kept, len(data), dataset, max_length, squared))
    finally:
        bar.close()
        model.train(was_training)
    return rows


def _run_profile(
    model: torch.nn.Module, profile: Profile, batches: Sequence[Batch], device: torch.device, bar: Any
) -> tuple[int, float]:
    """(correct predictions, Σ over samples of the mean kept fraction over layers, Σ squared error or None for a
    classifier) for one profile."""
    ratios = None if profile.name == DENSE_NAME else profile.keep_ratios
    correct = 0
    kept = 0.0
    squared: float | None = None
    for batch in batches:
        batch = batch.to(device)
        out = model(batch.input_ids, batch.attention_mask, batch.token_type_ids, keep_ratios=ratios)
        if batch.labels.is_floating_point():
            squared = (squared or 0.0) + float(((out.logits.squeeze(-1) - batch.labels) ** 2).sum())
        else:
            correct += int((out.logits.argmax(dim=-1) == batch.labels).sum())
        n_valid = batch.attention_mask.sum(dim=1).float()
        per_layer = [mask.sum(dim=1).float() / n_valid for mask in out.kept_masks]
        kept += float(sum(per_layer).sum()) / len(per_layer)
        bar.update(1)
    return correct, kept, squared


def _row(
    profile: Profile,
    loaded: LoadedModel,
    correct: int,
    kept: float,
    examples: int,
    dataset: str,
    max_length: int,
    squared: float | None = None,
) -> EvalRow:
    shape = loaded.model.shape
    at = {n: round(theoretical_speedup(profile.keep_ratios, shape, n, profile.min_keep), 4) for n in REPORT_LENGTHS}
    return EvalRow(
        profile=profile.name,
        target_speedup=profile.target_speedup,
        keep_ratios=tuple(profile.keep_ratios),
        theoretical_speedup_64=at[64],
        theoretical_speedup_128=at[128],
        theoretical_speedup_512=at[512],
        accuracy=None if squared is not None else correct / examples,
        examples=examples,
        dataset=dataset,
        kept_fraction=kept / examples,
        max_length=max_length,
        mse=None if squared is None else squared / examples,
    )


def render_table(rows: Sequence[EvalRow], title: str | None = None) -> Table:
    """A rich table of the rows; Δ is accuracy points against the dense row (the first row with speedup 1.0)."""
    from rich.table import Table

    regression = bool(rows) and rows[0].accuracy is None
    dense = next((row.mse if regression else row.accuracy for row in rows if row.target_speedup == 1.0), None)
    caption = "@N: theoretical encoder speedup at N tokens; kept: word-vectors per layer over valid length"
    table = Table(title=title, caption=caption)
    metric = ("mse", "Δ mse") if regression else ("accuracy", "Δ pts")
    for name in ("profile", "target", "@64", "@128", "@512", "kept", *metric, "n"):
        table.add_column(name, justify="left" if name == "profile" else "right")
    for row in rows:
        if regression:
            value, delta = f"{row.mse:.4f}", "" if dense is None else f"{row.mse - dense:+.4f}"
        else:
            value, delta = f"{100 * row.accuracy:.2f}%", "" if dense is None else f"{100 * (row.accuracy - dense):+.2f}"
        table.add_row(
            row.profile,
            f"{row.target_speedup:g}x",
            f"{row.theoretical_speedup_64:.2f}x",
            f"{row.theoretical_speedup_128:.2f}x",
            f"{row.theoretical_speedup_512:.2f}x",
            f"{100 * row.kept_fraction:.1f}%",
            value,
            delta,
            str(row.examples),
        )
    return table
