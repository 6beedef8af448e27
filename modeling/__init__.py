"""ACC word-vector elimination in PyTorch: score, selection, the ACC BERT, checkpoints, data and fine-tuning."""

from __future__ import annotations

from .model import AccBertForSequenceClassification, AccOutput
from .score import acc_score
from .select import Selection, keep_counts_tensor, select_tokens

__all__ = [
    "AccBertForSequenceClassification",
    "AccOutput",
    "Selection",
    "acc_score",
    "keep_counts_tensor",
    "select_tokens",
]
