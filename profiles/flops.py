"""FLOPs model of a BERT encoder under word-vector elimination (docs/METHOD.md#3-flops-model).

Why a model and not a measurement: offline-tuning must turn a requested speedup into keep ratios on any machine,
before anything is measured. Embeddings and the classifier are excluded (they do not change with elimination).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FLOPS_MODEL_NAME = "bert-encoder-v1"


@dataclass(frozen=True)
class EncoderShape:
    """The few numbers of a transformer encoder the FLOPs model needs."""

    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_heads: int = 12
    attention_size: int | None = None  # width of Q/K/V (heads × head dim) when it differs from hidden_size (T5)
    gated_ffn: bool = False  # three FFN matrices instead of two (T5 v1.1, Flan-T5)

    @classmethod
    def from_config(cls, config: object) -> EncoderShape:
        """Read a Hugging Face config (or anything with the same attribute names)."""
        return cls(
            num_layers=int(config.num_hidden_layers),
            hidden_size=int(config.hidden_size),
            intermediate_size=int(getattr(config, "intermediate_size", 4 * config.hidden_size)),
            num_heads=int(getattr(config, "num_attention_heads", 12)),
        )


BERT_BASE = EncoderShape(num_layers=12, hidden_size=768, intermediate_size=3072, num_heads=12)


def layer_flops(n_tokens: float, shape: EncoderShape) -> float:
    """FLOPs of one encoder layer on ``n_tokens`` word-vectors (multiply-add = 2 FLOPs).

    Projections Q, K, V, O: 8·n·d²; FFN: 4·n·d·ffn; QKᵀ and probs·V: 4·n²·d. With ffn = 4d this is
    24·n·d² + 4·n²·d, the formula of docs/METHOD.md#3-flops-model. An attention width a ≠ d (T5) puts a for d in
    the projection and score terms (8·n·d·a, 4·n²·a); a gated FFN has 6·n·d·ffn.
    """
    d = shape.hidden_size
    a = shape.attention_size or d
    ffn_matrices = 3.0 if shape.gated_ffn else 2.0
    n = float(n_tokens)
    return 8.0 * n * d * a + 2.0 * ffn_matrices * n * d * shape.intermediate_size + 4.0 * n * n * a


def encoder_flops(tokens_per_layer: Sequence[float], shape: EncoderShape) -> float:
    """Total encoder FLOPs when layer l sees ``tokens_per_layer[l]`` word-vectors."""
    return sum(layer_flops(n, shape) for n in tokens_per_layer)
