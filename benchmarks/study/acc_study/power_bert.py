"""PoWER-BERT (Goyal et al., ICML 2020): learn how many word-vectors each layer keeps, then re-train
(docs/METHOD.md#6-baselines).

Three steps: (1) a dense fine-tuned model; (2) *soft extraction*: before each later layer the j-th most significant
word-vector is multiplied by a learnable retention value ``r_{l,j} ∈ [0, 1]`` (initialised to 1, clipped after every
step), trained with ``loss + λ·Σ_l l·Σ_j r_{l,j}`` (IBM/PoWER-BERT weights layer l's L1 term by l, which pushes later
layers harder); the retention configuration is ``Σ_j r_{l,j}``, made non-increasing over layers; (3) *hard
extraction* at that configuration (top-k by significance, as ACC) and re-training. One model per speedup.

**Our decisions** (docs/study.md), so the baseline runs through ACC's forward pass and FLOPs model:
- Extraction sits between layers (after layer l's feed-forward, from layer l's attention), where ACC selects;
  PoWER-BERT extracts inside the layer, after self-attention. Significance is the ACC score (the same column sum,
  normalised; the ranking is identical) with [CLS] pinned, as PoWER-BERT's hard extraction pins it.
- Retention is indexed by *relative* rank: a sample of n word-vectors sends its rank-j vector to bin
  ``floor(j·bins/n)``, and the configuration is read as keep *ratios* ``ρ_l = mean_j r_{l,j}``, applied per sample
  with ``ceil(ρ_l·n_valid)`` like every other profile. (PoWER-BERT pads to a fixed length and keeps absolute counts.)
- λ steers the speedup only loosely, so the learned ratios are rescaled to the exact target before re-training:
  ``ρ_l(α) = ρ_l^α`` with α found by bisection (the learned *shape* is kept; both speedups are recorded).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from acc.modeling.families import additive_mask
from acc.modeling.model import AccBertForSequenceClassification, AccOutput
from acc.modeling.score import acc_score
from acc.profiles import DEFAULT_REFERENCE_LENGTH, EncoderShape, ProfileError, max_speedup, theoretical_speedup

if TYPE_CHECKING:
    from acc.modeling.data import Split
    from acc.modeling.finetune import FinetuneOptions

    from .training import TrainRecord

# λ per target speedup (log-linear in between): PoWER-BERT's SST-2 setting is λ = 2e-4 for ~2.4x on BERT-base.
DEFAULT_LAMBDAS = {1.5: 1e-4, 3.0: 4e-4, 4.8: 1e-3}
# Learned ratios at 1.0 could not move under the power rescale; keep them just below.
_RATIO_CEILING = 1.0 - 1e-3
_BISECTION_STEPS = 60


class SoftExtractBert(nn.Module):
    """PoWER-BERT's configuration-search model around an ACC BERT: soft extraction before layers 2..L.

    ``retention[l - 1, b]`` scales the word-vectors in relative-rank bin b before layer l (0-based l ≥ 1). Nothing
    is dropped, so the cost is that of the dense model. ``forward`` has the ACC model's signature so
    ``finetune._train_step`` can train it; ``keep_ratios`` must be None.
    """

    def __init__(self, model: AccBertForSequenceClassification, bins: int) -> None:
        super().__init__()
        if bins < 1:
            raise ProfileError(f"retention bins={bins} must be at least 1; use the training max length")
        self.model = model
        self.bins = bins
        self.retention = nn.Parameter(torch.ones(model.num_layers - 1, bins))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        keep_ratios: Sequence[float] | None = None,
    ) -> AccOutput:
        if keep_ratios is not None:
            raise ProfileError("soft extraction keeps every word-vector; train it dense (keep_ratios=None)")
        bert = self.model.hf.bert
        mask = attention_mask.long()
        hidden = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        probs: torch.Tensor | None = None
        for index, layer in enumerate(bert.encoder.layer):
            if probs is not None:
                weight = self.weights(acc_score(probs, mask), mask, index)
                hidden = hidden * weight[:, :, None].to(hidden.dtype)
            attention_output, probs = layer.attention(hidden, additive_mask(mask, hidden.dtype))
            hidden = layer.feed_forward_chunk(attention_output)
        pooled = bert.pooler(hidden) if bert.pooler is not None else hidden[:, 0]
        logits = self.model.hf.classifier(self.model.hf.dropout(pooled))
        return AccOutput(logits, [], [])

    def weights(self, score: torch.Tensor, mask: torch.Tensor, layer: int) -> torch.Tensor:
        """[B, N] retention value of each word-vector before ``layer``: r of its relative-rank bin; [CLS] gets 1."""
        order = torch.argsort(score, dim=1, descending=True)  # [CLS] (+inf) first, padding (-inf) last
        rank = torch.argsort(order, dim=1)
        n_valid = mask.sum(dim=1, keepdim=True).clamp(min=1)
        bins = torch.clamp(rank * self.bins // n_valid, max=self.bins - 1)
        weight = self.retention[layer - 1][bins]
        return torch.where(rank == 0, torch.ones_like(weight), weight)

    def penalty(self) -> torch.Tensor:
        """Σ_l l·Σ_j r_{l,j}, l = 1-based index of the layer whose output is extracted."""
        layer_index = torch.arange(1, self.retention.shape[0] + 1, device=self.retention.device, dtype=torch.float32)
        return (self.retention.float().sum(dim=1) * layer_index).sum()

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep every retention value in [0, 1] (PoWER-BERT's weight constraint), after each optimizer step."""
        self.retention.clamp_(0.0, 1.0)

    def learned_ratios(self) -> tuple[float, ...]:
        """ρ_1 = 1, ρ_l = mean_j r_{l,j}, made non-increasing over layers and at least one bin's worth."""
        return monotone_ratios(self.retention.detach().float().mean(dim=1).tolist(), floor=1.0 / self.bins)


def monotone_ratios(fractions: Sequence[float], floor: float) -> tuple[float, ...]:
    """(1.0, min(1, f_1), min(previous, f_2), ...), each at least ``floor``: a valid, non-increasing profile."""
    ratios = [1.0]
    for fraction in fractions:
        ratios.append(max(floor, min(ratios[-1], float(fraction))))
    return tuple(ratios)


def rescale_to_speedup(
    ratios: Sequence[float],
    target: float,
    shape: EncoderShape,
    reference_length: int = DEFAULT_REFERENCE_LENGTH,
    min_keep: int = 1,
) -> tuple[float, ...]:
    """``ρ^α`` with the smallest α whose theoretical speedup reaches ``target`` (α = 1 keeps the learned profile).

    Raising to a power keeps the order of layers (monotone stays monotone) and the relative shape in log space.
    """
    ceiling = max_speedup(shape, reference_length, min_keep)
    if not 1.0 <= target < ceiling * 0.999:
        raise ProfileError(f"target speedup {target:g} is outside [1, {ceiling * 0.999:.2f}) for this encoder")
    logs = [0.0] + [math.log(min(r, _RATIO_CEILING)) for r in ratios[1:]]

    def at(alpha: float) -> tuple[float, ...]:
        return tuple(math.exp(alpha * x) for x in logs)

    def speedup(alpha: float) -> float:
        return theoretical_speedup(at(alpha), shape, reference_length, min_keep)

    lo, hi = 0.0, 1.0
    while speedup(hi) < target:
        hi *= 2.0
        if hi > 1e6:
            raise ProfileError(f"cannot rescale {list(ratios)} to {target:g}x; the learned profile keeps too much")
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2
        if speedup(mid) >= target:
            hi = mid
        else:
            lo = mid
    return tuple(max(r, 1e-9) for r in at(hi))


def default_lambda(target: float) -> float:
    """λ for a target speedup, log-linear between DEFAULT_LAMBDAS (clamped at the ends)."""
    points = sorted(DEFAULT_LAMBDAS.items())
    if target in DEFAULT_LAMBDAS:
        return DEFAULT_LAMBDAS[target]
    if target <= points[0][0]:
        return points[0][1]
    for (s0, l0), (s1, l1) in itertools.pairwise(points):
        if target <= s1:
            t = (target - s0) / (s1 - s0)
            return math.exp(math.log(l0) + t * (math.log(l1) - math.log(l0)))
    return points[-1][1]


@dataclass(frozen=True)
class PowerBertResult:
    """What the configuration search learned, the profile re-trained at, and both training phases."""

    target_speedup: float
    lam: float
    learned_ratios: tuple[float, ...]
    learned_speedup: float  # theoretical speedup of the learned configuration, before the rescale
    keep_ratios: tuple[float, ...]  # after the rescale: the profile hard extraction was re-trained with
    search: TrainRecord
    retrain: TrainRecord

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_speedup": self.target_speedup,
            "lambda": self.lam,
            "learned_ratios": list(self.learned_ratios),
            "learned_speedup": round(self.learned_speedup, 4),
            "keep_ratios": list(self.keep_ratios),
            "phases": [self.search.to_dict(), self.retrain.to_dict()],
        }


def power_bert(
    model: AccBertForSequenceClassification,
    tokenizer: Any,
    train: Split,
    options: FinetuneOptions,
    target_speedup: float,
    lam: float | None = None,
    retention_lr: float = 1.5e-3,
    search_epochs: int = 1,
    retrain_epochs: int = 1,
    progress: bool = True,
) -> PowerBertResult:
    """Steps 2 and 3 on a dense fine-tuned ``model`` (trained in place): configuration search, then re-training.

    BERT weights train at ``options.lr`` in both steps; retention values at ``retention_lr`` without weight decay
    (PoWER-BERT's SST-2 setting is 5e-4 over 3 epochs; one epoch needs a larger step for the same travel).
    """
    from acc.modeling.evaluate import resolve_device
    from acc.modeling.finetune import _optimizer

    from .training import dense_only, fixed, train_loop

    lam = default_lambda(target_speedup) if lam is None else lam
    shape = model.shape
    soft = SoftExtractBert(model, bins=options.max_length).to(resolve_device(options.device))  # before the optimizer
    optimizer = _optimizer(model, options)  # BERT parameters, as acc-finetune groups them
    optimizer.add_param_group({"params": [soft.retention], "lr": retention_lr, "weight_decay": 0.0})

    def regulariser_backward() -> None:
        (lam * soft.penalty()).backward()

    search = train_loop(soft, tokenizer, train, options, dense_only, phase=f"power-bert {target_speedup:g}x search",
                        epochs=search_epochs, optimizer=optimizer, extra_backward=regulariser_backward,
                        after_step=soft.clamp_, progress=progress)  # fmt: skip
    learned = soft.learned_ratios()
    learned_speedup = theoretical_speedup(learned, shape, options.reference_length, model.min_keep)
    ratios = rescale_to_speedup(learned, target_speedup, shape, options.reference_length, model.min_keep)
    retrain = train_loop(model, tokenizer, train, options, fixed(ratios), phase=f"power-bert {target_speedup:g}x retrain",
                         epochs=retrain_epochs, progress=progress)  # fmt: skip
    return PowerBertResult(target_speedup, lam, learned, learned_speedup, ratios, search, retrain)
