"""Export-time CPU timings of a T5 bundle: encoder graph per profile, and whole generations (encoder + decoder).

The encoder rows go into the manifest's latency table (the profile policy reads them, as for BERT: the part that
depends on the profile). Generation rows time ``max_new_tokens`` forced decoder steps (no early stop), so every
profile decodes the same number of tokens and the difference is the encoder and the cross-attention length.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from acc.runtime.bundle_format import LatencyRow
from acc.runtime.device_names import cpu_name
from acc.runtime.ort_session import create_session, session_options
from acc.runtime.timing import full_length_feeds

from ..latency import measure_latency
from .validate import session_runner

GENERATION_NEW_TOKENS = 8


@dataclass(frozen=True)
class GenerationCell:
    """Wall time of one greedy generation of ``new_tokens`` tokens at (batch, seq), ORT CPU."""

    profile: str
    batch: int
    seq: int
    new_tokens: int
    p50_ms: float
    p99_ms: float
    encode_p50_ms: float
    iters: int
    device: str
    backend: str = "ort-cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_seq2seq_latency(
    runs: Sequence[tuple[Any, Any, str]],
    decoder_path: Any,
    decoder: Any,
    vocab_size: int,
    batches: Sequence[int],
    seqs: Sequence[int],
    iters: int = 20,
    threads: int | None = None,
    progress: bool = True,
    max_seconds_per_cell: float = 2.0,
) -> tuple[list[LatencyRow], list[GenerationCell]]:
    """Encoder cells for every ``(graph, profile, label)``; generation cells for the fixed-profile graphs."""
    from acc.runtime.generate import GenerationConfig, generate
    from acc.runtime.seq2seq_step import GraphSeq2SeqStep

    options = session_options("cpu", threads)
    effective_threads = threads or os.cpu_count() or 1
    device = cpu_name()
    sessions = {graph.path: create_session(graph.path, options=options) for graph, _, _ in runs}
    decoder_session = create_session(decoder_path, options=options)
    run_decoder = session_runner(decoder_session)
    config = GenerationConfig(
        max_new_tokens=GENERATION_NEW_TOKENS, eos_token_id=None, pad_token_id=decoder.pad_token_id
    )
    encoder_cells: list[LatencyRow] = []
    generation_cells: list[GenerationCell] = []
    bar = _bar(progress, len(runs) * len(batches) * len(seqs))
    for batch in batches:
        for seq in seqs:
            base = full_length_feeds(batch, seq, vocab_size)
            feeds = {"input_ids": base["input_ids"], "attention_mask": base["attention_mask"]}
            for graph, profile, label in runs:
                session = sessions[graph.path]
                run_feeds = dict(feeds)
                if graph.spec.adjustable:
                    run_feeds["keep_ratios"] = np.asarray(profile.keep_ratios, dtype=np.float32)
                stats = measure_latency(lambda: session.run(None, run_feeds), warmup=1, iters=iters,
                                        max_seconds=max_seconds_per_cell)  # fmt: skip
                encoder_cells.append(LatencyRow(profile.name, "ort-cpu", device, batch, seq, stats.p50_ms, stats.p99_ms,
                                                effective_threads, graph=label, p90_ms=stats.p90_ms,
                                                iters=stats.iters))  # fmt: skip
                if not graph.spec.adjustable:
                    run_encoder = session_runner(session)
                    full = measure_latency(
                        lambda: generate(GraphSeq2SeqStep(run_encoder, run_decoder, decoder, run_feeds), config),
                        warmup=1,
                        iters=max(3, iters // 4),
                        max_seconds=max_seconds_per_cell,
                    )
                    generation_cells.append(GenerationCell(profile.name, batch, seq, GENERATION_NEW_TOKENS,
                                                           full.p50_ms, full.p99_ms, stats.p50_ms, full.iters, device))  # fmt: skip
                bar.update(1)
    bar.close()
    return encoder_cells, generation_cells


def _bar(progress: bool, total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="latency", unit="cell", leave=False, disable=not progress)
