"""Training a small GPT-2 from scratch, then ACC fine-tuning with prefill elimination (sandwich rule).

Two phases, each on a wall-clock budget so a GPU run fits its slot:

1. *Pre-training*: ordinary next-token loss on random windows of the corpus (Hugging Face forward, fused
   attention).
2. *ACC fine-tuning* (docs/METHOD.md#4-sandwich-training and #8-other-families, adapted to a causal LM): every step cuts
   windows into a prompt of ``P`` tokens and a continuation of ``C``; the dense model's loss over the whole window is
   kept, and the continuation is also predicted after a *pruned* prefill of the prompt at ``s_max`` and at one random
   speedup in [1, s_max] (sandwich rule), each with cross-entropy plus a KL term towards the dense model's continuation
   distribution (in-place distillation). One model then serves every speedup by offline-tuning.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from acc.profiles import DataError, Profile, max_speedup, profile_for_speedup

if TYPE_CHECKING:
    import torch

    from .model import AccGPT2LMHeadModel

Log = Callable[[str], None]


@dataclass(frozen=True)
class CausalTrainOptions:
    """Knobs of both phases; seconds are wall-clock budgets, steps caps (whichever comes first)."""

    seq_len: int = 512
    batch_size: int = 64
    lr: float = 3e-3
    finetune_lr: float = 3e-4
    weight_decay: float = 0.1
    warmup_steps: int = 100
    pretrain_seconds: float = 150.0
    pretrain_max_steps: int = 100_000
    finetune_seconds: float = 45.0
    finetune_max_steps: int = 100_000
    finetune_batch_size: int = 32
    prompt_lens: tuple[int, ...] = (128, 256, 384)
    continuation_len: int = 64
    s_max: float = 4.0
    distill_weight: float = 1.0
    seed: int = 0
    device: str = "cuda"
    amp: bool = True  # bf16 autocast on CUDA

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["prompt_lens"] = list(self.prompt_lens)
        return data


@dataclass
class PhaseStats:
    """What one phase did: steps, tokens seen, time, and the loss curve (mean per logging interval)."""

    name: str
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "losses": [round(x, 4) for x in self.losses]}


def random_windows(ids: np.ndarray, width: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """``batch`` windows of ``width`` consecutive tokens at uniform random offsets, int64 [batch, width]."""
    if len(ids) <= width:
        raise DataError(f"corpus has {len(ids)} tokens, not more than one window of {width}; use a shorter seq_len")
    starts = rng.integers(0, len(ids) - width, size=batch)
    return np.stack([ids[s : s + width] for s in starts]).astype(np.int64)


def pretrain(hf_model: torch.nn.Module, ids: np.ndarray, options: CausalTrainOptions, log: Log = print) -> PhaseStats:
    """Dense next-token training of ``hf_model`` (a GPT2LMHeadModel) on random windows of ``ids``."""
    import torch

    rng = np.random.default_rng(options.seed)
    optimizer = _optimizer(hf_model, options.lr, options.weight_decay, options.device)
    stats = PhaseStats("pretrain")

    def step(progress: float) -> float:
        batch = torch.as_tensor(random_windows(ids, options.seq_len, options.batch_size, rng), device=options.device)
        with _autocast(options):
            loss = hf_model(batch, labels=batch).loss
        _update(optimizer, loss, hf_model, _lr(options.lr, stats.steps, options.warmup_steps, progress))
        stats.tokens += batch.numel()
        return float(loss.detach())

    hf_model.train()
    _run(step, stats, options.pretrain_seconds, options.pretrain_max_steps, options.device, log)
    hf_model.eval()
    return stats


def acc_finetune(
    model: AccGPT2LMHeadModel, ids: np.ndarray, options: CausalTrainOptions, log: Log = print
) -> PhaseStats:
    """Sandwich ACC fine-tuning of the wrapped model (module docstring)."""
    import torch
    import torch.nn.functional as F

    from .evaluate import continuation_logits

    rng = np.random.default_rng(options.seed + 1)
    hf = model.hf
    optimizer = _optimizer(hf, options.finetune_lr, options.weight_decay, options.device)
    profiles: dict[tuple[float, int], Profile] = {}
    stats = PhaseStats("acc-finetune")
    c_len = options.continuation_len

    def ratios(speedup: float, prompt_len: int) -> tuple[float, ...]:
        ceiling = 0.98 * max_speedup(model.shape, prompt_len, model.min_keep)  # shallow models top out early
        key = (round(min(speedup, ceiling), 2), prompt_len)
        if key not in profiles:
            profiles[key] = profile_for_speedup(
                model.shape, key[0], reference_length=prompt_len, min_keep=model.min_keep
            )
        return profiles[key].keep_ratios

    def step(progress: float) -> float:
        p_len = int(rng.choice(options.prompt_lens))
        window = torch.as_tensor(
            random_windows(ids, p_len + c_len, options.finetune_batch_size, rng), device=options.device
        )
        targets = window[:, p_len:]
        with _autocast(options):
            dense = hf(window).logits
            loss = F.cross_entropy(dense[:, :-1].float().flatten(0, 1), window[:, 1:].flatten())
            teacher = F.softmax(dense[:, p_len - 1 : -1].detach().float(), dim=-1)
            for speedup in (options.s_max, float(rng.uniform(1.0, options.s_max))):
                logits = continuation_logits(model, window, p_len, ratios(speedup, p_len)).float()
                loss = loss + F.cross_entropy(logits.flatten(0, 1), targets.flatten())
                kl = F.kl_div(F.log_softmax(logits, dim=-1), teacher, reduction="batchmean") / c_len
                loss = loss + options.distill_weight * kl
        _update(optimizer, loss, hf, _lr(options.finetune_lr, stats.steps, options.warmup_steps // 2, progress))
        stats.tokens += window.numel()
        return float(loss.detach())

    hf.train()
    _run(step, stats, options.finetune_seconds, options.finetune_max_steps, options.device, log)
    hf.eval()
    return stats


# --------------------------------------------------------------------------------------------------- helpers


def _run(
    step: Callable[[float], float], stats: PhaseStats, seconds: float, max_steps: int, device: str, log: Log
) -> None:
    """Call ``step(progress)`` until the time budget or the step cap is reached; progress ∈ [0, 1] drives the LR."""
    start = time.perf_counter()
    window: list[float] = []
    log_every = max(1, min(50, max_steps // 10))
    while stats.steps < max_steps:
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
        progress = max(elapsed / seconds, stats.steps / max_steps)
        window.append(step(progress))
        stats.steps += 1
        if stats.steps % log_every == 0:
            stats.losses.append(sum(window) / len(window))
            log(f"{stats.name} step {stats.steps} loss {stats.losses[-1]:.3f} ({time.perf_counter() - start:.0f}s)")
            window = []
    if window:
        stats.losses.append(sum(window) / len(window))
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    stats.seconds = time.perf_counter() - start


def _optimizer(module: torch.nn.Module, lr: float, weight_decay: float, device: str) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not biases, layer norms). Tied weights appear once."""
    import torch

    decay, no_decay, seen = [], [], set()
    for param in module.parameters():
        if id(param) in seen or not param.requires_grad:
            continue
        seen.add(id(param))
        (decay if param.dim() >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), fused=device.startswith("cuda"))


def _lr(peak: float, step: int, warmup: int, progress: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 10% of the peak over the budget."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def _update(optimizer: torch.optim.Optimizer, loss: torch.Tensor, module: torch.nn.Module, lr: float) -> None:
    import torch

    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
    optimizer.step()


def _autocast(options: CausalTrainOptions):
    import torch

    on_cuda = options.device.startswith("cuda")
    return torch.autocast(
        device_type="cuda" if on_cuda else "cpu", dtype=torch.bfloat16, enabled=on_cuda and options.amp
    )
