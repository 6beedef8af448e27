"""Fine-tuning with ACC elimination switched on (docs/METHOD.md#4-sandwich-training), so one model serves every speedup.

Elimination is hard top-k inside the forward pass: gradients reach the kept word-vectors, the selection itself is
not differentiated. Sandwich mode (the default) trains, in every step, the dense model (cross-entropy), the
``s_max`` profile and ``num_random`` profiles with a speedup drawn from U[1, s_max] (cross-entropy plus KL towards
the dense model's detached soft predictions: in-place distillation). ``train_speedup=S`` is the paper's base
recipe instead: cross-entropy at that one profile. Each configuration is backpropagated as soon as it has run, so
memory stays that of one forward pass; the gradients add up to those of the summed loss.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import (
    DEFAULT_REFERENCE_LENGTH,
    AccError,
    EncoderShape,
    Profile,
    ProfileError,
    max_speedup,
    parse_speedups,
    profile_for_speedup,
)

from .evaluate import EvalRow, rows_to_json

if TYPE_CHECKING:
    import torch

    from .checkpoint import LoadedModel
    from .data import Batch

DEFAULT_EVAL_SPEEDUPS = (1.5, 3.0, 4.8)
# An unreachable s_max is clamped a little below the family's ceiling, where profiles still differ from each other.
S_MAX_CLAMP = 0.98
EVAL_BATCH_SIZE = 64
GRAD_CLIP_NORM = 1.0


class FinetuneError(AccError):
    """Fine-tuning options that cannot work (a count below 1, a negative weight, ...)."""


_HELP = {
    "output_dir": "directory the ACC checkpoint is written to (must not exist unless --overwrite)",
    "model": "alias (minilm-l6, bert-sst2), checkpoint directory or hub id to start from",
    "data_dir": "SST-2 folder with train.tsv and dev.tsv (default: $ACC_DATA_DIR, then the copy shipped in the package)",
    "train_file": "train on this file instead of SST-2: .txt is not enough (needs labels), so TSV with a header "
    "(text, optional text_pair, label) or JSONL (text, text_pair, label); integer or word labels train a "
    "classifier, fractional numbers a regression head (num_labels=1)",
    "eval_file": "evaluate on this file (same formats as --train-file; required with it)",
    "overwrite": "replace an existing --output directory",
    "epochs": "passes over the training data",
    "batch_size": "training examples per step",
    "lr": "peak AdamW learning rate",
    "warmup": "fraction of all steps spent warming the learning rate up linearly (then linear decay to 0)",
    "max_length": "tokens per example after truncation (also stored as the checkpoint's max_length)",
    "weight_decay": "AdamW weight decay (not applied to biases and LayerNorm weights)",
    "seed": "seed for initialisation, shuffling, dropout and sampled speedups",
    "max_train_examples": "use only the first N training examples (smoke runs and tests)",
    "max_eval_examples": "evaluate on only the first N dev examples",
    "eval_speedups": "speedups evaluated on the eval set (SST-2 dev or --eval-file) beside the dense model",
    "s_max": "largest speedup trained in sandwich mode (clamped below the model's ceiling if unreachable)",
    "train_speedup": "train at this single speedup only (the paper's base recipe) instead of sandwich mode",
    "distill_weight": "weight of KL(dense soft predictions || sub-model) for the pruned configurations",
    "num_random": "randomly sampled speedups per step in sandwich mode",
    "reference_length": "sequence length at which speedups are turned into profiles",
    "device": "auto (cuda when available), cpu, cuda or cuda:N",
    "amp": "bf16 autocast for training on CUDA; off by default: small-model steps are launch-bound (no gain on an "
    "H100) and the ACC score would rank tokens in bf16. Ignored on CPU; evaluation always runs fp32",
    "eval_every_epoch": "evaluate after every epoch, not only after the last",
}
_NONE_DEFAULT_TYPES = {
    "data_dir": str,
    "train_file": str,
    "eval_file": str,
    "max_train_examples": int,
    "max_eval_examples": int,
    "train_speedup": float,
}


@dataclass(frozen=True, kw_only=True)
class FinetuneOptions:
    """Everything a fine-tuning run depends on; owns its CLI flags so the API and ``acc-finetune`` cannot drift."""

    output_dir: str
    model: str = "minilm-l6"
    data_dir: str | None = None
    train_file: str | None = None
    eval_file: str | None = None
    overwrite: bool = False
    # The shipped bert-sst2 recipe (benchmarks/device/finetune_bert_sst2.sh): 3 epochs, batch 64, lr 1e-4, length 64.
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-4
    warmup: float = 0.06
    max_length: int = 64
    weight_decay: float = 0.01
    seed: int = 0
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    eval_speedups: tuple[float, ...] = DEFAULT_EVAL_SPEEDUPS
    s_max: float = 5.0
    train_speedup: float | None = None
    distill_weight: float = 1.0
    num_random: int = 1
    reference_length: int = DEFAULT_REFERENCE_LENGTH
    device: str = "auto"
    amp: bool = False
    eval_every_epoch: bool = True

    def __post_init__(self) -> None:
        # Normalised so the options serialise to JSON as they are (paths may come in as Path objects).
        object.__setattr__(self, "eval_speedups", tuple(float(s) for s in self.eval_speedups))
        for name in ("output_dir", "model", "data_dir", "train_file", "eval_file"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, str(getattr(self, name)))
        for name in ("epochs", "batch_size", "max_length", "reference_length"):
            if getattr(self, name) < 1:
                raise FinetuneError(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("max_train_examples", "max_eval_examples"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise FinetuneError(f"{name}={getattr(self, name)} must be at least 1 (or None for all)")
        if not self.lr > 0:
            raise FinetuneError(f"lr={self.lr} must be positive; the shipped recipe uses 1e-4")
        if not 0.0 <= self.warmup < 1.0:
            raise FinetuneError(f"warmup={self.warmup} is a fraction of all steps; pass a value in [0, 1)")
        for name in ("weight_decay", "distill_weight", "num_random"):
            if getattr(self, name) < 0:
                raise FinetuneError(f"{name}={getattr(self, name)} must not be negative")
        if not self.s_max >= 1.0:
            raise ProfileError(f"s_max={self.s_max:g} is below 1; the largest trained speedup must be >= 1")
        if self.train_speedup is not None and not self.train_speedup >= 1.0:
            raise ProfileError(f"train_speedup={self.train_speedup:g} is below 1; pass a speedup >= 1")
        if (self.train_file is None) != (self.eval_file is None):
            raise FinetuneError("--train-file and --eval-file go together (a model trained on your data is "
                                "evaluated on your data); pass both, or neither for SST-2")  # fmt: skip

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One kebab-case flag per field (``--batch-size`` for ``batch_size``), defaults taken from the fields.

        Two exceptions keep every acc-* command spelled alike (``acc.tools.cli``): ``output_dir`` is ``-o/--output``
        and ``device`` takes ``{auto,cpu,cuda,cuda:N}``.
        """
        from acc.tools import cli

        for item in fields(cls):
            flag = "--" + item.name.replace("_", "-")
            if item.name == "output_dir":
                cli.add_output(parser, _HELP[item.name], required=True, dest="output_dir", metavar="DIR")
            elif item.name == "device":
                cli.add_device(parser, _HELP[item.name], default=item.default)
            elif item.name == "eval_speedups":
                default = ",".join(f"{s:g}" for s in item.default)
                parser.add_argument(flag, default=default, help=f"{_HELP[item.name]} (default {default})")
            elif isinstance(item.default, bool):
                parser.add_argument(
                    flag, action=argparse.BooleanOptionalAction, default=item.default, help=_HELP[item.name]
                )
            else:
                kind = _NONE_DEFAULT_TYPES.get(item.name) or type(item.default)
                suffix = "" if item.default is None else f" (default {item.default})"
                parser.add_argument(flag, type=kind, default=item.default, help=_HELP[item.name] + suffix)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> FinetuneOptions:
        """Options from parsed flags; a malformed ``--eval-speedups`` raises ProfileError."""
        values = {item.name: getattr(args, item.name) for item in fields(cls)}
        if isinstance(values["eval_speedups"], str):
            values["eval_speedups"] = tuple(parse_speedups(values["eval_speedups"]))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["eval_speedups"] = list(self.eval_speedups)
        return data


@dataclass(frozen=True)
class FinetuneResult:
    """What a run produced: the checkpoint directory, the final accuracy table and the cost of training."""

    output_dir: Path
    rows: tuple[EvalRow, ...]
    train_time_s: float  # optimizer steps only, evaluation excluded
    steps: int
    epoch_losses: tuple[float, ...]  # per epoch: mean over steps of the loss per configuration

    @property
    def accuracy(self) -> list[dict[str, Any]]:
        """The accuracy table as written to ``acc_config.json``."""
        return rows_to_json(self.rows)


@dataclass(frozen=True)
class TrainPlan:
    """Which configurations a step trains. Profiles are computed once, before training, so bad speedups fail fast.

    ``profile`` is the single trained profile in ``single`` mode and the ``s_max`` profile in ``sandwich`` mode.
    """

    mode: str
    shape: EncoderShape
    reference_length: int
    min_keep: int
    s_max: float  # after clamping; sandwich mode samples speedups from U[1, s_max]
    profile: Profile
    num_random: int

    def configs(self, rng: random.Random) -> list[tuple[tuple[float, ...] | None, bool]]:
        """(keep ratios, or None for dense; distil towards dense?) per configuration, dense first in sandwich mode."""
        ratios = self.profile.keep_ratios
        if self.mode == "single":
            return [(None if all(r == 1.0 for r in ratios) else ratios, False)]
        sampled = [
            profile_for_speedup(self.shape, rng.uniform(1.0, self.s_max), self.reference_length, self.min_keep)
            for _ in range(self.num_random)
        ]
        return [(None, False), (ratios, True)] + [(p.keep_ratios, True) for p in sampled]


def plan_training(shape: EncoderShape, options: FinetuneOptions, min_keep: int = 1) -> TrainPlan:
    """Profiles for training. An unreachable ``s_max`` is clamped to 0.98 × the family's ceiling (sandwich mode
    only asks for "the fastest useful model"); an unreachable ``train_speedup`` is an error, since clamping it
    would silently train another model than the one asked for."""
    ref = options.reference_length
    if options.train_speedup is not None:
        fixed = profile_for_speedup(shape, options.train_speedup, ref, min_keep)
        return TrainPlan("single", shape, ref, min_keep, options.train_speedup, fixed, 0)
    ceiling = max_speedup(shape, ref, min_keep)
    s_max = options.s_max if options.s_max < ceiling * 0.999 else S_MAX_CLAMP * ceiling
    top = profile_for_speedup(shape, s_max, ref, min_keep, name=f"s{s_max:.3g}")
    return TrainPlan("sandwich", shape, ref, min_keep, s_max, top, options.num_random)


def finetune(options: FinetuneOptions, progress: bool = True) -> FinetuneResult:
    """Fine-tune ``options.model`` on SST-2 (or ``train_file``) with elimination, evaluate on dev (or
    ``eval_file``), write the ACC checkpoint; an existing ``output_dir`` needs ``overwrite``.

    Deterministic for a seed on CPU. The checkpoint's ``acc_config.json`` records every option, the step count,
    the training time, library versions and the final accuracy table (dense first, then each eval speedup).
    """
    import torch
    from tqdm.auto import tqdm

    from .checkpoint import save_checkpoint
    from .data import iter_batches
    from .evaluate import eval_profiles, evaluate, resolve_device
    from .training_data import load_training_data

    if Path(options.output_dir).exists() and not options.overwrite:
        raise FinetuneError(f"output directory {options.output_dir} already exists; pass --overwrite to replace it "
                            "or choose another --output directory")  # fmt: skip
    device = resolve_device(options.device)
    data = load_training_data(options.train_file, options.eval_file, options.data_dir)
    train = data.train.head(options.max_train_examples)
    torch.manual_seed(options.seed)  # before loading: a base model's classifier head is initialised there
    loaded = data.load_model(options.model)
    plan = plan_training(loaded.model.shape, options, loaded.model.min_keep)
    eval_profiles(loaded, options.eval_speedups, options.reference_length)  # fail before training, not after
    if plan.mode == "sandwich" and plan.s_max != options.s_max:
        _log(progress, f"s_max {options.s_max:g} is unreachable for this model; training up to {plan.s_max:.3f}")
    model = loaded.model.to(device)
    steps_per_epoch = -(-len(train) // options.batch_size)
    total_steps = options.epochs * steps_per_epoch
    optimizer = _optimizer(model, options)
    scheduler = _linear_schedule(optimizer, total_steps, round(options.warmup * total_steps))
    amp = options.amp and device.type == "cuda"
    rng = random.Random(options.seed)

    bar = tqdm(total=total_steps, desc="finetune", unit="step", disable=not progress, dynamic_ncols=True)

    def step(batch: Batch) -> float:
        loss = _train_step(model, batch.to(device), plan.configs(rng), options.distill_weight, amp)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        bar.update(1)
        return loss

    def run_eval() -> list[EvalRow]:
        return evaluate(
            loaded, options.eval_speedups, options.data_dir, "dev", EVAL_BATCH_SIZE, options.max_length,
            options.max_eval_examples, str(device), options.reference_length, progress, data=data.eval,
        )  # fmt: skip

    rows: list[EvalRow] = []
    epoch_losses: list[float] = []
    train_time_s = 0.0
    steps = 0
    started = time.perf_counter()
    for epoch in range(options.epochs):
        tick = time.perf_counter()
        model.train()
        losses: list[float] = []
        seed = options.seed + epoch
        for batch in iter_batches(train, loaded.tokenizer, options.batch_size, options.max_length, True, seed):
            losses.append(step(batch))
            running = sum(losses[-50:]) / len(losses[-50:])
            bar.set_postfix(loss=f"{running:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}", refresh=False)
        train_time_s += time.perf_counter() - tick
        steps += len(losses)
        epoch_losses.append(sum(losses) / len(losses))
        if options.eval_every_epoch or epoch == options.epochs - 1:
            rows = run_eval()
            _log(progress, _epoch_line(epoch, options.epochs, epoch_losses[-1], rows, train_time_s))
    bar.close()
    model.eval()

    run = dict(
        train_examples=len(train),
        steps=steps,
        train_time_s=round(train_time_s, 3),
        wall_time_s=round(time.perf_counter() - started, 3),
        epoch_losses=[round(loss, 6) for loss in epoch_losses],
    )
    acc_config = replace(
        loaded.acc_config,
        max_length=options.max_length,
        eval_data=data.eval_data,
        training=_training_record(options, plan, loaded, device, run, data.name),
        accuracy=rows_to_json(rows),
    )
    output = save_checkpoint(replace(loaded, acc_config=acc_config), options.output_dir)
    return FinetuneResult(Path(output), tuple(rows), train_time_s, steps, tuple(epoch_losses))


def _train_step(
    model: torch.nn.Module,
    batch: Batch,
    configs: Sequence[tuple[tuple[float, ...] | None, bool]],
    distill_weight: float,
    amp: bool,
) -> float:
    """Forward and backward every configuration, then clip the summed gradient.

    Returns the loss per configuration (mean over configurations, so sandwich and single mode read alike), with
    one host sync per step.
    """
    import contextlib

    import torch

    total = torch.zeros((), device=batch.labels.device)
    teacher: torch.Tensor | None = None  # dense log-probabilities, detached: the sub-models learn from them
    for ratios, distill in configs:
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()
        with autocast:
            logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids, keep_ratios=ratios).logits
        loss, log_probs = distilled_loss(logits.float(), batch.labels, teacher if distill else None, distill_weight)
        if ratios is None:
            teacher = log_probs.detach()
        loss.backward()
        total = total + loss.detach()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP_NORM)
    return float(total) / len(configs)


def distilled_loss(
    logits: torch.Tensor, targets: torch.Tensor, teacher: torch.Tensor | None, distill_weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, log-probabilities) of one sandwich sub-model: cross entropy, plus ``distill_weight`` × KL to the dense
    ``teacher``'s log-probabilities when one is given. Shared by the BERT and T5 training steps.

    Float ``targets`` (a regression head, ``num_labels=1``): mean squared error, plus ``distill_weight`` × MSE to
    the dense ``teacher``'s outputs; the second value is then the outputs themselves.
    """
    import torch.nn.functional as F

    if targets.is_floating_point():
        outputs = logits.squeeze(-1)
        loss = F.mse_loss(outputs, targets)
        if teacher is not None and distill_weight > 0:
            loss = loss + distill_weight * F.mse_loss(outputs, teacher)
        return loss, outputs
    loss = F.cross_entropy(logits, targets)
    log_probs = F.log_softmax(logits, dim=-1)
    if teacher is not None and distill_weight > 0:
        loss = loss + distill_weight * F.kl_div(log_probs, teacher, reduction="batchmean", log_target=True)
    return loss, log_probs


def _optimizer(model: torch.nn.Module, options: FinetuneOptions) -> torch.optim.Optimizer:
    """AdamW; biases and LayerNorm weights get no weight decay (the usual BERT recipe)."""
    import torch

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = name.endswith(".bias") or "LayerNorm" in name or "layernorm" in name.lower()
        (no_decay if skip else decay).append(param)
    groups = [{"params": decay, "weight_decay": options.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=options.lr)


def _linear_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int) -> Any:
    """Linear warm-up to the peak over ``warmup_steps``, then linear decay; step i uses factor f(i), never 0."""
    import torch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _training_record(
    options: FinetuneOptions,
    plan: TrainPlan,
    loaded: LoadedModel,
    device: torch.device,
    run: dict[str, Any],
    data: str = "sst2-train",
) -> dict[str, Any]:
    """``acc_config.json``'s ``training``: every option, what the run did (``run``) and what it ran on."""
    import importlib.metadata
    import platform

    import torch
    import transformers

    try:
        acc_version = importlib.metadata.version("acc-deploy")
    except importlib.metadata.PackageNotFoundError:
        acc_version = "unknown"
    record = options.to_dict()
    record.update(run, mode=plan.mode, base_model_source=loaded.source, data=data)
    record.update(
        device_used=str(device),
        device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        amp_used=options.amp and device.type == "cuda",
        versions={"torch": torch.__version__, "transformers": transformers.__version__, "acc-deploy": acc_version},
    )
    record["s_max_profile" if plan.mode == "sandwich" else "train_profile"] = plan.profile.to_dict()
    record["s_max_effective"] = plan.s_max if plan.mode == "sandwich" else None
    return record


def _epoch_line(epoch: int, epochs: int, loss: float, rows: Sequence[EvalRow], seconds: float) -> str:
    if rows and rows[0].accuracy is None:  # a regression head
        scores = "  ".join(f"{row.profile} {row.mse:.4f}" for row in rows)
        return f"epoch {epoch + 1}/{epochs}  loss {loss:.4f}  eval mse {scores}  ({seconds:.0f} s training)"
    accuracies = "  ".join(f"{row.profile} {100 * row.accuracy:.2f}" for row in rows)
    return f"epoch {epoch + 1}/{epochs}  loss {loss:.4f}  eval acc % {accuracies}  ({seconds:.0f} s training)"


def _log(enabled: bool, message: str) -> None:
    """Progress lines go to stderr through tqdm, so they do not break the bar; stdout stays for results."""
    if enabled:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)
