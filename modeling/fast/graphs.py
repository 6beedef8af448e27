"""CUDA graphs of the fast path, one per (plan, batch), and a runner that pads requests into them.

Small batches spend more time launching kernels than running them; a captured graph replays the whole pass
(embeddings to logits, selections included) as one launch. A graph fixes every shape, which a ``StaticPlan``
already does, so the runner pads each request to a sequence bucket (padding is masked and never selected) and
keeps one graph per (plan, batch size). On CPU, or with ``use_graphs=False``, the same pass runs eagerly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from acc.modeling.model import AccOutput
from acc.profiles import ModelError

from .encoder import FastAccBert
from .plan import StaticPlan, make_plan, seq_bucket

DEFAULT_BUCKETS = (64, 128, 256, 512)


class CapturedPass:
    """One CUDA graph of ``FastAccBert.forward`` for a fixed (plan, batch); inputs are copied into static buffers.

    The outputs are the graph's own tensors: valid until the next replay, so callers copy what they keep.
    """

    def __init__(self, model: FastAccBert, plan: StaticPlan, batch: int, warmup: int = 2) -> None:
        device = next(model.parameters()).device
        shape = (batch, plan.seq_len)
        self.plan = plan
        self.input_ids = torch.zeros(shape, dtype=torch.long, device=device)
        self.attention_mask = torch.ones(shape, dtype=torch.long, device=device)
        self.token_type_ids = torch.zeros(shape, dtype=torch.long, device=device)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up off the capture: Triton compiles, cuBLAS picks its kernels
            for _ in range(warmup):
                model(self.input_ids, self.attention_mask, self.token_type_ids, plan)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = model(self.input_ids, self.attention_mask, self.token_type_ids, plan)

    def replay(self) -> AccOutput:
        self.graph.replay()
        return self.output

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> AccOutput:
        self.input_ids.copy_(input_ids)
        self.attention_mask.copy_(attention_mask)
        self.token_type_ids.copy_(token_type_ids)
        return self.replay()


class FastAccRunner:
    """Run a ``FastAccBert`` on padded token batches: bucket, pad, pick or capture the graph, return logits.

    ``keep_ratios`` per call (None = dense); ``method`` fixes how selections run (``fused`` or ``naive``; ``dense``
    ignores the ratios). Inputs may live on CPU (the usual tokenizer output): the padding check is then free.
    """

    def __init__(
        self,
        model: FastAccBert,
        method: str = "fused",
        seq_buckets: Sequence[int] = DEFAULT_BUCKETS,
        use_graphs: bool | None = None,
    ) -> None:
        self.model = model
        self.method = method
        self.seq_buckets = tuple(sorted(seq_buckets))
        self.device = next(model.parameters()).device
        self.use_graphs = self.device.type == "cuda" if use_graphs is None else use_graphs
        if self.use_graphs and self.device.type != "cuda":
            raise ModelError(f"CUDA graphs need a CUDA model, this one is on {self.device}; pass use_graphs=False")
        self._graphs: dict[tuple[StaticPlan, int], CapturedPass] = {}

    def plan(self, keep_ratios: Sequence[float] | None, seq_len: int, padded: bool = True) -> StaticPlan:
        method = "dense" if keep_ratios is None else self.method
        return make_plan(method, keep_ratios, self.model.num_layers, seq_len, self.model.min_keep, padded)

    def captured(self, plan: StaticPlan, batch: int) -> CapturedPass:
        """The graph of (plan, batch), captured on first use (warm-up included)."""
        key = (plan, batch)
        if key not in self._graphs:
            self._graphs[key] = CapturedPass(self.model, plan, batch)
        return self._graphs[key]

    def clear(self) -> None:
        """Drop every captured graph and its memory pool."""
        self._graphs.clear()

    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        keep_ratios: Sequence[float] | None = None,
    ) -> AccOutput:
        """Logits [B, labels] and per-layer kept positions/masks, all copied out of the graph onto the model device."""
        batch, seq_len = input_ids.shape
        bucket = seq_bucket(seq_len, self.seq_buckets)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        padded = bucket != seq_len or not bool(attention_mask.bool().all())
        pad = bucket - seq_len
        ids, mask, types = (torch.nn.functional.pad(t.long(), (0, pad)).to(self.device)
                            for t in (input_ids, attention_mask, token_type_ids))  # fmt: skip
        plan = self.plan(keep_ratios, bucket, padded)
        if self.use_graphs:
            out = self.captured(plan, batch)(ids, mask, types)
            positions = [p.clone() for p in out.kept_positions]
            return AccOutput(out.logits.clone(), positions, [m.clone() for m in out.kept_masks])
        return self.model(ids, mask, types, plan)
