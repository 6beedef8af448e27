"""The ACC fast path for GPUs: fused attention, Triton ACC kernels, static plans captured in CUDA graphs.

``FastAccBert`` runs an ACC (or plain HF) BERT classifier's weights with the reference model's semantics;
``FastAccRunner`` pads requests into sequence buckets and replays one CUDA graph per (plan, batch).
"""

from __future__ import annotations

from .encoder import FastAccBert, to_fast
from .graphs import DEFAULT_BUCKETS, CapturedPass, FastAccRunner
from .plan import METHODS, StaticPlan, make_plan, seq_bucket

__all__ = [
    "DEFAULT_BUCKETS",
    "METHODS",
    "CapturedPass",
    "FastAccBert",
    "FastAccRunner",
    "StaticPlan",
    "make_plan",
    "seq_bucket",
    "to_fast",
]
