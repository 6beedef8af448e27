"""Export-time CPU table for causal bundles: time-to-first-token per profile and decode-step latency after it.

TTFT here is one prefill graph run (prompt → next-token logits and the pruned caches) plus the argmax; a decode
step is one decode-graph run on the caches that profile left behind, so a smaller cache shows up as a faster step.
Prompts are full length (every token valid), each profile's worst case at that length. Measured with the shared
``measure_latency`` (same warm-up and percentile definition as every other table).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from acc.runtime.causal_names import past_names, present_names
from acc.runtime.device_names import cpu_name
from acc.runtime.ort_session import create_session, session_options

from ..latency import measure_latency
from .export import CausalGraph


@dataclass(frozen=True)
class CausalLatencyRow:
    """TTFT and decode-step latency of one profile at one (batch, prompt length) on ORT CPU, in milliseconds."""

    profile: str
    backend: str
    device: str
    batch: int
    seq: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    decode_p50_ms: float
    decode_p99_ms: float
    iters: int
    threads: int

    @property
    def tokens_per_s(self) -> float:
        return self.batch * 1e3 / self.decode_p50_ms if self.decode_p50_ms > 0 else 0.0

    def to_manifest_row(self) -> dict[str, Any]:
        """A ``LatencyRow`` of the manifest (p50/p99 = TTFT), so the runtime's tables read causal bundles too."""
        return {"profile": self.profile, "backend": self.backend, "device": self.device, "batch": self.batch,
                "seq": self.seq, "p50_ms": self.ttft_p50_ms, "p99_ms": self.ttft_p99_ms, "threads": self.threads}  # fmt: skip

    def to_decode_row(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_s": self.tokens_per_s}


def measure_causal_latency(
    runs: Sequence[tuple[CausalGraph, Any]],
    decode: CausalGraph,
    vocab_size: int,
    batches: Sequence[int],
    seqs: Sequence[int],
    iters: int,
    threads: int | None,
    max_seconds: float = 5.0,
) -> list[CausalLatencyRow]:
    """Every (prefill graph at its profile) × batch × seq: TTFT and the first decode step's latency."""
    options = session_options("cpu", threads or None)
    used_threads = threads or os.cpu_count() or 1
    decode_session = create_session(decode.path, options=options)
    layers = sum(1 for n in decode.output_names if n.startswith("present_key_"))
    rows: list[CausalLatencyRow] = []
    for graph, profile in runs:
        session = create_session(graph.path, options=options)
        names = ["logits"] + [n for layer in range(layers) for n in present_names(layer)]
        for batch in batches:
            for seq in seqs:
                rng = np.random.default_rng(seq)
                ids = rng.integers(0, vocab_size, size=(batch, seq)).astype(np.int64)
                feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}

                def ttft() -> object:
                    return session.run(["logits"], feeds)[0].argmax(-1)

                ttft_stats = measure_latency(ttft, warmup=2, iters=iters, max_seconds=max_seconds)
                outputs = dict(zip(names, session.run(names, feeds)))
                step_feeds = {"input_ids": outputs["logits"].argmax(-1)[:, None].astype(np.int64),
                              "position_ids": np.full((batch, 1), seq, dtype=np.int64)}  # fmt: skip
                for layer in range(layers):
                    for past, present in zip(past_names(layer), present_names(layer)):
                        step_feeds[past] = outputs[present]
                decode_stats = measure_latency(lambda: decode_session.run(["logits"], step_feeds), warmup=2,
                                               iters=iters, max_seconds=max_seconds)  # fmt: skip
                rows.append(CausalLatencyRow(
                    profile=profile.name, backend="ort-cpu", device=cpu_name(), batch=batch, seq=seq,
                    ttft_p50_ms=ttft_stats.p50_ms, ttft_p99_ms=ttft_stats.p99_ms, decode_p50_ms=decode_stats.p50_ms,
                    decode_p99_ms=decode_stats.p99_ms, iters=ttft_stats.iters, threads=used_threads,
                ))  # fmt: skip
    return rows
