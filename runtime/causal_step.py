"""Left-padded prompt batches and the ONNX Runtime decoding step, shared by export-time validation and the runtime.

Lives in the runtime (numpy only); export-time validation (``acc.exporter.causal.validate``) imports it from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .causal_names import DECODE_INPUTS, KEEP_RATIOS_INPUT, LOGITS, past_names, present_names


@dataclass(frozen=True, eq=False)
class PromptBatch:
    """Left-padded int64 prompts [B, N] and their mask (1 = real token); every row's last token sits at the end."""

    input_ids: np.ndarray
    attention_mask: np.ndarray

    def feeds(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> PromptBatch:
    """Left-pad token-id rows to the longest."""
    longest = max(len(r) for r in rows)
    ids = np.full((len(rows), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), longest), dtype=np.int64)
    for i, row in enumerate(rows):
        if len(row):
            ids[i, longest - len(row) :] = row
            mask[i, longest - len(row) :] = 1
    return PromptBatch(ids, mask)


class OrtCausalStep:
    """The ``acc.runtime.generate`` step over two ORT sessions: the prefill graph once, then the decode graph.

    The prefill's ``present_*`` outputs become the decode graph's ``past_*`` inputs unchanged (one cache per layer,
    each of its own length); position ids continue from each row's valid prompt length. ``keep_ratios`` is fed
    only to an adjustable prefill graph (one that declares that input).
    """

    def __init__(self, prefill: Any, decode: Any, num_layers: int, batch: PromptBatch,
                 keep_ratios: Sequence[float] | None = None) -> None:  # fmt: skip
        self.prefill, self.decode = prefill, decode
        self.num_layers = num_layers
        self.batch = batch
        self.keep_ratios = keep_ratios
        self.past: dict[str, np.ndarray] = {}
        self.positions = batch.attention_mask.sum(axis=1).astype(np.int64)
        self._cache_names = [n for layer in range(num_layers) for n in present_names(layer)]
        self._prefill_inputs = {i.name for i in prefill.get_inputs()}
        self.prefill_lengths: list[list[int]] = []

    def __call__(self, tokens: np.ndarray | None) -> np.ndarray:
        names = [LOGITS, *self._cache_names]
        if tokens is None:
            feeds = self.batch.feeds()
            if KEEP_RATIOS_INPUT in self._prefill_inputs:
                feeds[KEEP_RATIOS_INPUT] = np.asarray(self.keep_ratios, dtype=np.float32)
            outputs = dict(zip(names, self.prefill.run(names, feeds)))
        else:
            ids = np.asarray(tokens, dtype=np.int64)[:, None]
            feeds = {DECODE_INPUTS[0]: ids, DECODE_INPUTS[1]: self.positions[:, None], **self.past}
            outputs = dict(zip(names, self.decode.run(names, feeds)))
            self.positions = self.positions + 1
        self.past = {past: outputs[present] for layer in range(self.num_layers)
                     for past, present in zip(past_names(layer), present_names(layer))}  # fmt: skip
        if tokens is None:
            self.prefill_lengths = self.cache_lengths()
        return outputs[LOGITS]

    def cache_lengths(self) -> list[list[int]]:
        """Real entries per layer and row of the current cache."""
        return [self.past[past_names(layer)[2]].sum(axis=1).astype(int).tolist() for layer in range(self.num_layers)]
