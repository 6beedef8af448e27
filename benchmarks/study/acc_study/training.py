"""One training loop for every baseline: what a step trains comes from a config sampler, the rest is acc-finetune's.

``acc.modeling.finetune`` owns the step (forward + backward of each configuration, in-place distillation, gradient
clipping), the optimizer and the schedule; this loop reuses them and adds only what the baselines need beyond
``finetune()``: a training split chosen by the caller (the study holds part of SST-2 train out), any sampler of
configurations (LengthDrop, a fixed PoWER-BERT configuration, dense), a caller-built optimizer, and hooks for an
extra loss term and for projecting parameters after the step (PoWER-BERT's retention values).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from acc.modeling.data import Split
    from acc.modeling.finetune import FinetuneOptions

# (keep ratios, or None for dense; distil towards the dense configuration?) per configuration, as TrainPlan.configs.
Configs = list[tuple[tuple[float, ...] | None, bool]]
ConfigSampler = Callable[[random.Random], Configs]


def dense_only(rng: random.Random) -> Configs:
    """Plain fine-tuning: one dense configuration per step."""
    return [(None, False)]


def fixed(keep_ratios: Sequence[float]) -> ConfigSampler:
    """Training at one profile (PoWER-BERT's re-training with hard extraction)."""
    ratios = tuple(float(r) for r in keep_ratios)
    return lambda rng: [(ratios, False)]


@dataclass(frozen=True)
class TrainRecord:
    """What one training phase did; ``steps`` is the budget the study compares methods by."""

    phase: str
    epochs: int
    steps: int
    train_examples: int
    configs_per_step: int
    train_time_s: float
    epoch_losses: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["epoch_losses"] = [round(x, 6) for x in self.epoch_losses]
        data["train_time_s"] = round(self.train_time_s, 3)
        return data


def train_loop(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    train: Split,
    options: FinetuneOptions,
    sample: ConfigSampler,
    *,
    phase: str = "train",
    epochs: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    extra_backward: Callable[[], None] | None = None,
    after_step: Callable[[], None] | None = None,
    progress: bool = True,
) -> TrainRecord:
    """Train ``model`` in place for ``epochs`` (default ``options.epochs``) over ``train``, shuffled per epoch.

    Every step runs ``sample(rng)``'s configurations through ``finetune._train_step`` (which clips the summed
    gradient), then ``extra_backward()`` (adds the gradient of an extra loss term), the optimizer and schedule
    step, then ``after_step()``. ``optimizer`` defaults to acc-finetune's AdamW (no decay on biases and LayerNorm);
    a caller-built one must not have a scheduler yet: the linear warm-up/decay schedule is attached here.
    The model is left in eval mode on ``options.device``.
    """
    from tqdm.auto import tqdm

    from acc.modeling.data import iter_batches
    from acc.modeling.evaluate import resolve_device
    from acc.modeling.finetune import _linear_schedule, _optimizer, _train_step

    device = resolve_device(options.device)
    epochs = options.epochs if epochs is None else epochs
    model.to(device)
    optimizer = optimizer or _optimizer(model, options)
    steps_per_epoch = -(-len(train) // options.batch_size)
    total_steps = epochs * steps_per_epoch
    scheduler = _linear_schedule(optimizer, total_steps, round(options.warmup * total_steps))
    amp = options.amp and device.type == "cuda"
    rng = random.Random(options.seed)
    bar = tqdm(total=total_steps, desc=phase, unit="step", disable=not progress, dynamic_ncols=True, mininterval=2.0)
    epoch_losses: list[float] = []
    configs_per_step = 0
    train_time_s = 0.0
    for epoch in range(epochs):
        tick = time.perf_counter()
        model.train()
        losses: list[float] = []
        for batch in iter_batches(train, tokenizer, options.batch_size, options.max_length, True, options.seed + epoch):
            configs = sample(rng)
            configs_per_step = len(configs)
            losses.append(_train_step(model, batch.to(device), configs, options.distill_weight, amp))
            if extra_backward is not None:
                extra_backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if after_step is not None:
                after_step()
            bar.update(1)
            if len(losses) % 50 == 0:
                bar.set_postfix(loss=f"{sum(losses[-50:]) / 50:.4f}", refresh=False)
        train_time_s += time.perf_counter() - tick
        epoch_losses.append(sum(losses) / max(len(losses), 1))
        log(True, f"{phase}: epoch {epoch + 1}/{epochs}, {len(losses)} steps, loss {epoch_losses[-1]:.4f}, "
                  f"{train_time_s:.0f} s training")  # fmt: skip
    bar.close()
    model.eval()
    return TrainRecord(phase, epochs, total_steps, len(train), configs_per_step, train_time_s, tuple(epoch_losses))


def log(enabled: bool, message: str) -> None:
    """Stage lines on stderr (through tqdm, so they do not break a bar); stdout stays for results."""
    if enabled:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)
