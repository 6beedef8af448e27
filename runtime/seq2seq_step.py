"""The ``step`` contract of ``acc.runtime.generate`` over an exported T5 encoder graph and decoder-step graph.

Lives in the runtime and export-time validation imports it, so both drive the graphs the same way: one
implementation of "encode once, then feed the decoder its growing self-attention cache". Imports numpy only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from acc.profiles import DataError

from .seq2seq_names import DECODER_INPUT_IDS, ENCODER_HIDDEN, ENCODER_MASK, LOGITS, past_names

GraphRunner = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class DecoderSpec:
    """The decoder graph and what feeding it takes: cache geometry and the special token ids."""

    graph: str
    num_layers: int
    num_heads: int
    head_dim: int
    start_token_id: int
    eos_token_id: int
    pad_token_id: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecoderSpec:
        """From the manifest's ``seq2seq.decoder``; KeyError / TypeError / ValueError when a field is missing or bad."""
        return cls(**{name: (str if name == "graph" else int)(data[name]) for name in cls.__dataclass_fields__})

    def past_names(self, prefix: str = "past") -> list[str]:
        return past_names(self.num_layers, prefix)


class GraphSeq2SeqStep:
    """The ``step`` contract of ``acc.runtime.generate`` over an encoder and a decoder graph (numpy in, out).

    ``run_encoder`` / ``run_decoder`` take feeds and return outputs by name (an ORT session, a ``Backend.infer``).
    ``step(None)`` runs the encoder and the first decoder step on the start token with an empty cache.
    """

    def __init__(
        self,
        run_encoder: GraphRunner,
        run_decoder: GraphRunner,
        decoder: DecoderSpec,
        encoder_feeds: Mapping[str, np.ndarray],
    ) -> None:
        self.run_encoder = run_encoder
        self.run_decoder = run_decoder
        self.decoder = decoder
        self.encoder_feeds = dict(encoder_feeds)
        self.encoder_outputs: dict[str, np.ndarray] = {}
        self.first_logits: np.ndarray | None = None
        self.encode_ms = 0.0
        self._past: dict[str, np.ndarray] = {}

    def __call__(self, tokens: np.ndarray | None) -> np.ndarray:
        if tokens is None:
            start = time.perf_counter()
            self.encoder_outputs = dict(self.run_encoder(self.encoder_feeds))
            self.encode_ms = (time.perf_counter() - start) * 1e3
            batch = int(self.encoder_feeds["input_ids"].shape[0])
            shape = (batch, self.decoder.num_heads, 0, self.decoder.head_dim)
            self._past = {name: np.zeros(shape, dtype=np.float32) for name in self.decoder.past_names()}
            feed = np.full((batch, 1), self.decoder.start_token_id, dtype=np.int64)
        else:
            if not self.encoder_outputs:
                raise DataError("step(tokens) before step(None): the prompt must be encoded first")
            feed = np.asarray(tokens, dtype=np.int64)[:, None]
        outputs = self.run_decoder({
            DECODER_INPUT_IDS: feed,
            ENCODER_HIDDEN: self.encoder_outputs[ENCODER_HIDDEN],
            ENCODER_MASK: self.encoder_outputs[ENCODER_MASK],
            **self._past,
        })  # fmt: skip
        self._past = dict(
            zip(self.decoder.past_names(), (outputs[name] for name in self.decoder.past_names("present")))
        )
        logits = np.asarray(outputs[LOGITS])[:, -1]
        if tokens is None:
            self.first_logits = logits
        return logits
