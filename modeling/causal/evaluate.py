"""Prompt-prefix perplexity: how well the model continues a prompt whose prefill was pruned (docs/causal.md).

Definition. Held-out token ids are cut into non-overlapping windows of ``P + C`` tokens. For each window the first
``P`` tokens are the prompt, prefilled under the profile (elimination as in generation); the next ``C`` tokens are
scored one by one with teacher forcing, each attending to the pruned per-layer caches and the continuation before
it, exactly as decoding would. Prompt-prefix perplexity is ``exp`` of the mean negative log-likelihood over all
``W · C`` continuation tokens. The dense profile gives the ordinary perplexity of those ``C`` tokens given ``P``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from acc.profiles import DataError

if TYPE_CHECKING:
    import torch

    from .model import AccGPT2LMHeadModel


@dataclass(frozen=True)
class PerplexityResult:
    """One profile's prompt-prefix perplexity and the window geometry it was measured on."""

    perplexity: float
    nll: float  # mean negative log-likelihood per continuation token (nats)
    tokens: int
    windows: int
    prompt_len: int
    continuation_len: int


def heldout_windows(
    ids: np.ndarray, prompt_len: int, continuation_len: int, max_windows: int | None = None
) -> np.ndarray:
    """Non-overlapping [W, P + C] int64 windows from the start of ``ids`` (deterministic, no sampling)."""
    width = prompt_len + continuation_len
    count = len(ids) // width
    if max_windows is not None:
        count = min(count, max_windows)
    if count < 1:
        raise DataError(f"held-out text has {len(ids)} tokens, fewer than one window of {width}; use a shorter window")
    return np.asarray(ids[: count * width], dtype=np.int64).reshape(count, width)


def continuation_logits(
    model: AccGPT2LMHeadModel, window: torch.Tensor, prompt_len: int, keep_ratios: Sequence[float] | None
) -> torch.Tensor:
    """[B, C, V] logits of the continuation tokens ``window[:, P:]`` after a (pruned) prefill of ``window[:, :P]``."""
    import torch

    prompt, continuation = window[:, :prompt_len], window[:, prompt_len:]
    out = model.prefill(prompt, None, keep_ratios)
    steps = continuation.shape[1] - 1
    if steps == 0:
        return out.logits[:, None]
    positions = out.next_positions[:, None] + torch.arange(steps, device=window.device)[None, :]
    rest, _ = model.extend(out.cache, continuation[:, :-1], positions)
    return torch.cat([out.logits[:, None], rest], dim=1)


def prompt_prefix_perplexity(
    model: AccGPT2LMHeadModel,
    windows: np.ndarray,
    prompt_len: int,
    keep_ratios: Sequence[float] | None,
    batch_size: int = 16,
    device: str = "cpu",
) -> PerplexityResult:
    """Perplexity of the continuation tokens of every window given the pruned prompt (module docstring)."""
    import torch

    total_nll, total_tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            window = torch.as_tensor(windows[start : start + batch_size], device=device)
            with torch.autocast(device_type=window.device.type, dtype=torch.bfloat16, enabled=window.is_cuda):
                logits = continuation_logits(model, window, prompt_len, keep_ratios)
            targets = window[:, prompt_len:]
            nll = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum")
            total_nll += float(nll)
            total_tokens += targets.numel()
    mean = total_nll / total_tokens
    return PerplexityResult(math.exp(mean), mean, total_tokens, len(windows), prompt_len, windows.shape[1] - prompt_len)
