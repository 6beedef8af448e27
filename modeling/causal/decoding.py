"""The PyTorch ACC GPT-2 as a ``step`` callable for the shared decoding loop (``acc.runtime.generate``).

The first call runs the (pruned) prefill, later calls feed one token per row through ``extend``; the per-layer
caches live in the closure. Used by the tests (dense parity with Hugging Face, ORT parity) and by ``acc-generate
--torch``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from .model import AccGPT2LMHeadModel, LayerCache


class TorchCausalStep:
    """``step(None)`` → prefill logits; ``step(tokens)`` → logits after appending ``tokens`` [B]. Owns the cache."""

    def __init__(
        self,
        model: AccGPT2LMHeadModel,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        keep_ratios: Sequence[float] | None = None,
        synchronize: bool = False,
    ) -> None:
        self.model = model
        self.input_ids = input_ids
        self.attention_mask = attention_mask
        self.keep_ratios = keep_ratios
        self.synchronize = synchronize  # CUDA: wait for the GPU so the loop's wall-clock timing means latency
        self.cache: list[LayerCache] | None = None
        self.positions: torch.Tensor | None = None

    def __call__(self, tokens: np.ndarray | None) -> torch.Tensor:
        import torch

        with torch.no_grad():
            if tokens is None:
                out = self.model.prefill(self.input_ids, self.attention_mask, self.keep_ratios)
                self.cache, self.positions, logits = out.cache, out.next_positions, out.logits
            else:
                if self.cache is None or self.positions is None:
                    raise RuntimeError("step(tokens) before step(None): run the prefill first")
                new = torch.as_tensor(np.asarray(tokens), dtype=torch.long, device=self.input_ids.device)[:, None]
                logits, self.cache = self.model.extend(self.cache, new, self.positions[:, None])
                self.positions = self.positions + 1
                logits = logits[:, -1]
            if self.synchronize and logits.is_cuda:
                torch.cuda.synchronize()
        return logits
