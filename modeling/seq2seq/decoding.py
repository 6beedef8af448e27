"""The PyTorch ACC T5 as a ``step`` callable for the shared decoding loop (``acc.runtime.generate``).

``step(None)`` encodes the prompt (with elimination) and runs the decoder on the start token; ``step(tokens)``
feeds the tokens just chosen. The ONNX runtime (``acc.runtime.seq2seq``) implements the same contract over the
exported graphs, so one greedy loop drives both and their outputs compare token for token.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import numpy as np

    from .model import AccT5ForConditionalGeneration, EncoderOutput, Past


class TorchSeq2SeqStep:
    """Decoding state of one batch: the kept encoder vectors and the decoder cache. Use once per batch."""

    def __init__(
        self,
        model: AccT5ForConditionalGeneration,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        keep_ratios: Sequence[float] | None = None,
        select_layers: Sequence[int] | None = None,
    ) -> None:
        self.model = model
        self.input_ids = input_ids
        self.attention_mask = attention_mask
        self.keep_ratios = keep_ratios
        self.select_layers = select_layers  # None: the layers whose ratio drops (as the profile's graph does)
        self.encoder: EncoderOutput | None = None
        self.first_logits: torch.Tensor | None = None  # [B, V] logits of the first answer token
        self._past: Past | None = None

    @torch.inference_mode()
    def __call__(self, tokens: np.ndarray | None) -> torch.Tensor:
        device = self.input_ids.device
        if tokens is None:
            self.encoder = self.model.encode(self.input_ids, self.attention_mask, self.keep_ratios, self.select_layers)
            batch = self.input_ids.shape[0]
            feed = torch.full((batch, 1), self.model.start_token_id, dtype=torch.long, device=device)
            self._past = None
        else:
            if self.encoder is None:
                raise RuntimeError("step(tokens) before step(None): the prompt must be encoded first")
            feed = torch.as_tensor(tokens, dtype=torch.long, device=device)[:, None]
        out = self.model.decode(feed, self.encoder.hidden, self.encoder.mask, self._past)
        self._past = out.past
        logits = out.logits[:, -1].float()
        if tokens is None:
            self.first_logits = logits
        return logits
