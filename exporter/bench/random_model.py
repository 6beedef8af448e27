"""A random-initialised BERT-base ACC checkpoint, for latency-only benchmarks at the paper's model size.

Latency depends on shapes, not on weight values, so a BERT-base (12 layers, 768 wide) with random weights times the
same as a trained one and needs no download: the config is BERT-base's, the tokenizer is the shipped MiniLM's
(the same uncased WordPiece vocabulary, 30522 tokens). Its accuracy is meaningless, and every result measured on it
is labelled ``latency_only``.
"""

from __future__ import annotations

import os
from pathlib import Path

from acc.profiles import BERT_BASE, EncoderShape

RANDOM_BERT_BASE_NAME = "bert-base-random"


def random_bert_checkpoint(
    directory: str | os.PathLike[str], shape: EncoderShape = BERT_BASE, seed: int = 0, max_length: int = 128
) -> Path:
    """Write an ACC checkpoint (safetensors, tokenizer, acc_config.json) of a random ``shape`` BERT to ``directory``."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from acc.modeling.checkpoint import AccConfig, LoadedModel, _minilm_dir, save_checkpoint
    from acc.modeling.model import AccBertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(_minilm_dir()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        intermediate_size=shape.intermediate_size,
        max_position_embeddings=512,
        num_labels=2,
    )
    hf = BertForSequenceClassification(config).eval()
    acc_config = AccConfig(
        max_length=max_length,
        training={"note": f"random initialisation (seed {seed}), not trained: latency benchmarks only"},
    )
    loaded = LoadedModel(AccBertForSequenceClassification(hf), tokenizer, acc_config, "random")
    return save_checkpoint(loaded, directory)
