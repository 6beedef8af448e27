"""Token-by-token decoding shared by every generative model: greedy and sampling through one API.

Framework-agnostic on purpose: the decoding loop only sees a ``step`` callable that returns next-token logits, so
the same code drives the PyTorch reference (``acc.modeling.causal``), ONNX Runtime graphs (``acc.runtime.causal``)
and encoder–decoder models alike, and a greedy run of two backends can be compared token for token.

The ``step`` contract::

    step(None)            -> logits [B, V]   prefill: run the prompt, return the logits of its last position
    step(tokens [B] int64) -> logits [B, V]   feed the tokens just chosen, return the logits for the next position

Logits may be numpy arrays or anything with ``.detach().float().cpu().numpy()`` (torch tensors). Sampling follows
the usual order (temperature → top-k → top-p, as Hugging Face's ``generate``) with a numpy ``Generator`` seeded
once per call, so a (prompt, config, seed) triple always yields the same text on every backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from acc.profiles import DataError

Step = Callable[[np.ndarray | None], Any]


@dataclass(frozen=True)
class GenerationConfig:
    """How to pick each new token. ``do_sample=False`` is greedy (argmax); the sampling knobs are then ignored.

    ``eos_token_id``: one id or several; a row stops after emitting one of them. ``pad_token_id`` fills the rows
    that stopped (defaults to the first eos id, then 0). ``top_k=0`` and ``top_p=1.0`` switch those filters off.
    """

    max_new_tokens: int = 32
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    eos_token_id: int | tuple[int, ...] | None = None
    pad_token_id: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise DataError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}; ask for at least one token")
        if self.do_sample and not self.temperature > 0.0:
            raise DataError(
                f"temperature must be > 0 when sampling, got {self.temperature}; use do_sample=False for greedy"
            )
        if self.top_k < 0:
            raise DataError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise DataError(f"top_p must lie in (0, 1] (1 = off), got {self.top_p}")

    @property
    def eos_ids(self) -> tuple[int, ...]:
        if self.eos_token_id is None:
            return ()
        if isinstance(self.eos_token_id, (int, np.integer)):
            return (int(self.eos_token_id),)
        return tuple(int(i) for i in self.eos_token_id)

    @property
    def pad_id(self) -> int:
        if self.pad_token_id is not None:
            return int(self.pad_token_id)
        return self.eos_ids[0] if self.eos_ids else 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if isinstance(data["eos_token_id"], tuple):
            data["eos_token_id"] = list(data["eos_token_id"])
        return data


@dataclass(frozen=True, eq=False)
class Generation:
    """What one ``generate`` call produced and how long it took.

    ``tokens``: int64 ``[B, T]`` new tokens only (T ≤ max_new_tokens), rows that stopped early padded with the pad
    id; ``lengths[b]``: new tokens of row b including its eos. ``ttft_ms``: prefill plus choosing the first token;
    ``decode_ms``: every later step. ``tokens_per_s`` counts decode steps × rows (the first token is in the TTFT).
    """

    tokens: np.ndarray
    lengths: np.ndarray
    finished: np.ndarray  # [B] bool: row emitted an eos token
    ttft_ms: float
    decode_ms: float
    step_ms: list[float] = field(default_factory=list)

    @property
    def decode_steps(self) -> int:
        return max(int(self.tokens.shape[1]) - 1, 0)

    @property
    def tokens_per_s(self) -> float:
        if self.decode_steps == 0 or self.decode_ms <= 0.0:
            return 0.0
        return self.decode_steps * int(self.tokens.shape[0]) / (self.decode_ms / 1e3)

    def token_lists(self) -> list[list[int]]:
        """Per row, the new tokens up to and including its eos (padding removed)."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths)]


def as_numpy_logits(logits: Any) -> np.ndarray:
    """float32 ``[B, V]`` numpy view of a backend's logits (numpy array or torch tensor)."""
    if hasattr(logits, "detach"):
        logits = logits.detach().float().cpu().numpy()
    array = np.asarray(logits, dtype=np.float32)
    if array.ndim != 2:
        raise DataError(
            f"step returned logits of shape {array.shape}; it must return [batch, vocab] for the next token"
        )
    return array


def filter_logits(logits: np.ndarray, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Scaled logits with everything outside the top-k / nucleus set to −inf (float32 ``[B, V]``).

    top-p keeps the smallest set of tokens, in probability order, whose mass reaches ``top_p``; the most likely token
    is always kept, so a row never ends up empty.
    """
    scores = logits.astype(np.float32) / np.float32(temperature)
    vocab = scores.shape[-1]
    if 0 < top_k < vocab:
        kth = np.partition(scores, vocab - top_k, axis=-1)[:, vocab - top_k][:, None]
        scores = np.where(scores < kth, -np.inf, scores)
    if top_p < 1.0:
        order = np.argsort(-scores, axis=-1, kind="stable")
        ranked = np.take_along_axis(scores, order, axis=-1)
        probs = _softmax(ranked)
        mass_before = np.cumsum(probs, axis=-1) - probs  # mass of strictly better tokens
        drop_ranked = mass_before >= top_p
        drop_ranked[:, 0] = False
        drop = np.zeros_like(drop_ranked)
        np.put_along_axis(drop, order, drop_ranked, axis=-1)
        scores = np.where(drop, -np.inf, scores)
    return scores


def choose_tokens(logits: np.ndarray, config: GenerationConfig, rng: np.random.Generator) -> np.ndarray:
    """One token per row: argmax when greedy, else a draw from the filtered distribution. int64 ``[B]``."""
    if not config.do_sample:
        return np.argmax(logits, axis=-1).astype(np.int64)
    probs = _softmax(filter_logits(logits, config.temperature, config.top_k, config.top_p)).astype(np.float64)
    probs /= probs.sum(axis=-1, keepdims=True)
    # Inverse-CDF draw: one uniform per row, reproducible for a given seed whatever the vocabulary size.
    uniform = rng.random(probs.shape[0])
    cdf = np.cumsum(probs, axis=-1)
    picks = (cdf < uniform[:, None]).sum(axis=-1)
    return np.minimum(picks, probs.shape[-1] - 1).astype(np.int64)


def generate(step: Step, config: GenerationConfig, *, clock: Callable[[], float] = time.perf_counter) -> Generation:
    """Prefill once, then decode until every row emitted an eos or ``max_new_tokens`` tokens exist.

    Rows that stopped keep being fed the pad id (the batch stays rectangular for the backend) and their outputs
    are ignored. Timing is wall clock around ``step``; a GPU backend should synchronise inside ``step`` for it to
    mean latency.
    """
    rng = np.random.default_rng(config.seed)
    eos = np.asarray(config.eos_ids, dtype=np.int64)
    start = clock()
    logits = as_numpy_logits(step(None))
    tokens = choose_tokens(logits, config, rng)
    ttft_ms = (clock() - start) * 1e3
    batch = tokens.shape[0]
    out = [tokens]
    finished = np.isin(tokens, eos)
    lengths = np.ones(batch, dtype=np.int64)
    step_ms: list[float] = []
    while len(out) < config.max_new_tokens and not finished.all():
        t0 = clock()
        logits = as_numpy_logits(step(out[-1]))
        chosen = choose_tokens(logits, config, rng)
        step_ms.append((clock() - t0) * 1e3)
        chosen = np.where(finished, config.pad_id, chosen)
        lengths += ~finished
        finished = finished | np.isin(chosen, eos)
        out.append(chosen)
    return Generation(
        tokens=np.stack(out, axis=1),
        lengths=lengths,
        finished=finished,
        ttft_ms=ttft_ms,
        decode_ms=float(sum(step_ms)),
        step_ms=step_ms,
    )


def parse_eos(values: Sequence[int] | int | None) -> int | tuple[int, ...] | None:
    """Normalise an eos argument (one id, a list, or None) to what ``GenerationConfig`` stores."""
    if values is None or isinstance(values, (int, np.integer)):
        return None if values is None else int(values)
    ids = tuple(int(v) for v in values)
    return ids[0] if len(ids) == 1 else (ids or None)


def _softmax(scores: np.ndarray) -> np.ndarray:
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exp = np.exp(scores - top)
    return exp / exp.sum(axis=-1, keepdims=True)
