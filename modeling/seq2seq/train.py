"""Train a small ACC T5 from scratch: span-corruption pre-training, then instruction fine-tuning with elimination.

No T5 weights can be downloaded here, so the model is trained on the GPU machine from the shared English corpus
(``acc.modeling.corpus``) and SST-2. Fine-tuning follows docs/METHOD.md#4-sandwich-training as ``acc.modeling.finetune``
does for BERT (same ``plan_training``: dense + s_max + a random speedup per step, in-place distillation), with the loss
taken over the answer tokens. Both phases run under a wall-clock budget as well as a step cap, and the learning-rate
schedule follows whichever runs out first, so a run always fits its device slot.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from acc.modeling.finetune import FinetuneError, FinetuneOptions, plan_training
from acc.profiles import DEFAULT_REFERENCE_LENGTH, parse_speedups

from .prompts import HELD_OUT_TEMPLATES, TRAIN_TEMPLATES

if TYPE_CHECKING:
    import torch

    from .data import TextBatch

GRAD_CLIP_NORM = 1.0

# Architecture presets. "small" is the shipped model's: 6 encoder layers (as bert-sst2, so the same speedups are
# reachable), a 2-layer decoder (answers are one word), sized to stay under 8 MB in fp16.
SIZES: dict[str, dict[str, int]] = {
    "small": {"d_model": 160, "d_kv": 32, "num_heads": 5, "d_ff": 512, "num_layers": 6, "num_decoder_layers": 2},
    "tiny": {"d_model": 32, "d_kv": 8, "num_heads": 4, "d_ff": 64, "num_layers": 3, "num_decoder_layers": 1},
}


@dataclass(frozen=True, kw_only=True)
class Seq2SeqTrainOptions:
    """One training run. Flags are the field names in kebab-case (``--pretrain-seconds``)."""

    output_dir: str
    corpus_dir: str | None = None  # token corpus (acc.modeling.corpus); None: skip pre-training
    data_dir: str | None = None  # SST-2 folder
    size: str = "small"
    dropout: float = 0.1
    seed: int = 0
    device: str = "auto"
    pretrain_seconds: float = 120.0
    pretrain_steps: int = 100_000
    pretrain_batch_size: int = 256
    pretrain_length: int = 128
    pretrain_lr: float = 2e-3
    finetune_seconds: float = 110.0
    finetune_epochs: int = 6
    batch_size: int = 128
    lr: float = 5e-4
    warmup: float = 0.03
    weight_decay: float = 0.01
    max_length: int = 128
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    templates: tuple[str, ...] = tuple(t.name for t in TRAIN_TEMPLATES)
    held_out: tuple[str, ...] = tuple(t.name for t in HELD_OUT_TEMPLATES)
    s_max: float = 5.0
    num_random: int = 1
    distill_weight: float = 1.0
    reference_length: int = DEFAULT_REFERENCE_LENGTH
    eval_speedups: tuple[float, ...] = (1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 4.8)
    eval_batch_size: int = 256

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise FinetuneError(f"size {self.size!r} is not one of {sorted(SIZES)}; pass --size small or tiny")
        for name in (
            "pretrain_steps",
            "pretrain_batch_size",
            "pretrain_length",
            "finetune_epochs",
            "batch_size",
            "max_length",
            "eval_batch_size",
        ):
            if getattr(self, name) < 1:
                raise FinetuneError(f"{name}={getattr(self, name)} must be at least 1")
        if self.pretrain_length < 8:
            raise FinetuneError(f"pretrain_length={self.pretrain_length} is too short to corrupt spans; use >= 8")
        if not self.templates:
            raise FinetuneError("no training templates given; pass --templates with at least one name")
        if set(self.templates) & set(self.held_out):
            raise FinetuneError(
                f"templates {sorted(set(self.templates) & set(self.held_out))} are both trained and held out"
            )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One kebab-case flag per field, defaults from the fields (a caller may ``parser.set_defaults`` others)."""
        for item in fields(cls):
            flag = "--" + item.name.replace("_", "-")
            default = None if item.default is MISSING else item.default
            if item.name == "output_dir":
                parser.add_argument(flag, default=None, help="directory the ACC T5 checkpoint is written to")
            elif isinstance(default, tuple):
                parser.add_argument(
                    flag,
                    default=",".join(f"{v:g}" if isinstance(v, float) else v for v in default),
                    help=f"comma-separated (default {default})",
                )
            else:
                kind = {"corpus_dir": str, "data_dir": str, "max_train_examples": int, "max_eval_examples": int}.get(
                    item.name, type(default)
                )
                parser.add_argument(flag, type=kind, default=default, help=f"(default {default})")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Seq2SeqTrainOptions:
        values = {item.name: getattr(args, item.name) for item in fields(cls)}
        if not values["output_dir"]:
            raise FinetuneError("no output directory; pass --output-dir DIR")
        for name in ("templates", "held_out"):
            if isinstance(values[name], str):
                values[name] = tuple(v for v in values[name].split(",") if v)
        if isinstance(values["eval_speedups"], str):
            values["eval_speedups"] = tuple(parse_speedups(values["eval_speedups"]))
        return cls(**values)


@dataclass
class PhaseRecord:
    """What one phase did: steps, examples seen, wall time, losses (mean per 10% of the phase)."""

    name: str
    steps: int = 0
    examples: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_model(tokenizer: Any, size: str, dropout: float, seed: int) -> Any:
    """A fresh ``T5ForConditionalGeneration`` of preset ``size`` over ``tokenizer``'s vocabulary (T5 v1.0 style:
    ReLU FFN, tied embeddings, decoder output rescaled), wrapped for ACC."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from .model import AccT5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=len(tokenizer),
        feed_forward_proj="relu",
        dropout_rate=dropout,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        **SIZES[size],
    )
    hf = T5ForConditionalGeneration(config)
    return AccT5ForConditionalGeneration(hf)


def linear_schedule(progress: float, warmup: float) -> float:
    """Learning-rate factor at ``progress`` ∈ [0, 1] of a phase: linear warm-up, then linear decay to 0."""
    if progress < warmup:
        return max(progress / warmup, 1e-3)
    return max(0.0, (1.0 - progress) / max(1e-9, 1.0 - warmup))


def run_phase(
    name: str,
    model: torch.nn.Module,
    batches: Iterator[TextBatch],
    configs: Callable[[], Sequence[tuple[tuple[float, ...] | None, bool]]],
    lr: float,
    options: Seq2SeqTrainOptions,
    max_steps: int,
    max_seconds: float,
    device: torch.device,
    progress: bool,
) -> PhaseRecord:
    """Train until ``batches`` ends, ``max_steps`` or ``max_seconds``; lr follows the larger of the two fractions."""
    import torch
    from tqdm.auto import tqdm

    optimizer = _optimizer(model, lr, options.weight_decay)
    record = PhaseRecord(name)
    model.train()
    losses: list[float] = []
    bar = tqdm(total=max_steps, desc=name, unit="step", disable=not progress, dynamic_ncols=True)
    start = time.perf_counter()
    for batch in batches:
        elapsed = time.perf_counter() - start
        fraction = max(record.steps / max_steps, elapsed / max_seconds) if max_seconds > 0 else 1.0
        if fraction >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr * linear_schedule(fraction, options.warmup)
        loss = _train_step(model, batch.to(device), configs(), options.distill_weight)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss)
        record.steps += 1
        record.examples += int(batch.input_ids.shape[0])
        bar.update(1)
        if record.steps % 50 == 0:
            bar.set_postfix(loss=f"{float(torch.stack(losses[-50:]).mean()):.4f}", refresh=False)
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    record.seconds = round(time.perf_counter() - start, 3)
    values = torch.stack(losses).tolist() if losses else []
    chunk = max(1, len(values) // 10)
    record.losses = [
        round(sum(values[i : i + chunk]) / len(values[i : i + chunk]), 5) for i in range(0, len(values), chunk)
    ]
    model.eval()
    return record


def _train_step(
    model: torch.nn.Module,
    batch: TextBatch,
    configs: Sequence[tuple[tuple[float, ...] | None, bool]],
    distill_weight: float,
) -> torch.Tensor:
    """Forward and backward every configuration; loss over target tokens, KL to the dense model's answers.

    Returns the mean loss per configuration as a 0-d tensor (read lazily: no host sync per step).
    """
    import torch

    from acc.modeling.finetune import distilled_loss

    from .data import IGNORE_INDEX

    decoder_input_ids = model.shift_right(batch.labels)
    valid = batch.labels.reshape(-1) != IGNORE_INDEX
    targets = batch.labels.reshape(-1)[valid]
    total = torch.zeros((), device=batch.labels.device)
    teacher: torch.Tensor | None = None
    for ratios, distill in configs:
        logits = model(batch.input_ids, batch.attention_mask, decoder_input_ids, keep_ratios=ratios).logits
        logits = logits.float().reshape(-1, logits.shape[-1])[valid]
        loss, log_probs = distilled_loss(logits, targets, teacher if distill else None, distill_weight)
        if ratios is None:
            teacher = log_probs.detach()
        loss.backward()
        total = total + loss.detach()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP_NORM)
    return total / len(configs)


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW; layer-norm weights and embeddings get no weight decay."""
    import torch

    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if "layer_norm" in name or "shared" in name or "relative_attention" in name else decay).append(
                param
            )
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), fused=fused)


def set_dropout(model: torch.nn.Module, p: float) -> None:
    """Set every dropout (modules and the attention-probability dropout) to ``p``."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
    if hasattr(model, "dropout"):
        model.dropout = p


def pretrain_batches(stream: Any, tokenizer: Any, options: Seq2SeqTrainOptions, rng: Any) -> Iterator[TextBatch]:
    """Endless span-corrupted windows of the corpus stream."""
    from .data import span_corruption_batch
    from .tokenizer import sentinel_ids

    sentinels = sentinel_ids(tokenizer)
    while True:
        yield span_corruption_batch(
            stream, options.pretrain_batch_size, options.pretrain_length, sentinels, tokenizer.eos_token_id, rng
        )


def finetune_batches(split: Any, tokenizer: Any, options: Seq2SeqTrainOptions) -> Iterator[TextBatch]:
    """Epochs of SST-2 train, each example under one of the training templates (drawn per epoch)."""
    from .data import instruction_batches
    from .prompts import templates_by_name

    templates = templates_by_name(options.templates)
    for epoch in range(options.finetune_epochs):
        yield from instruction_batches(
            split, tokenizer, templates, options.batch_size, options.max_length, shuffle=True, seed=options.seed + epoch
        )


def log(progress: bool, message: str) -> None:
    if progress:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)


def sandwich_configs(model: Any, options: Seq2SeqTrainOptions) -> tuple[Any, Callable[[], list]]:
    """The fine-tuning plan of ``acc.modeling.finetune`` (same clamping of s_max) and its per-step sampler."""
    plan_options = FinetuneOptions(
        output_dir=options.output_dir,
        s_max=options.s_max,
        num_random=options.num_random,
        reference_length=options.reference_length,
        distill_weight=options.distill_weight,
    )
    plan = plan_training(model.shape, plan_options, model.min_keep)
    rng = random.Random(options.seed)
    return plan, lambda: plan.configs(rng)


def describe(model: Any) -> dict[str, Any]:
    """Architecture numbers of an ``AccT5ForConditionalGeneration`` for the model card."""
    config = model.config
    params = sum(p.numel() for p in model.hf.parameters())
    keys = (
        "vocab_size",
        "d_model",
        "d_kv",
        "num_heads",
        "d_ff",
        "num_layers",
        "num_decoder_layers",
        "feed_forward_proj",
    )
    return {
        "architecture": "T5ForConditionalGeneration",
        "parameters": params,
        **{key: getattr(config, key) for key in keys},
    }
