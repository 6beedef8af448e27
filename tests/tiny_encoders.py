"""Tiny random encoder classifiers of every family (BERT, RoBERTa, DistilBERT, MPNet) with real tokenizers.

RoBERTa and MPNet get a byte-level BPE trained in a second on SST-2 sentences with their special-token layout
(<s>=0, <pad>=1, </s>=2, pairs as ``<s> A </s></s> B </s>``); BERT and DistilBERT use the shipped MiniLM WordPiece
tokenizer. Weights are random and tiny (hidden 32, 4 heads) so every family test runs in milliseconds.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

FAMILY_NAMES = ("bert", "roberta", "distilbert", "mpnet")
ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


@cache
def tiny_tokenizer(family: str) -> Any:
    """The family's tokenizer: RoBERTa-style BPE for roberta/mpnet, the MiniLM WordPiece for bert/distilbert.

    Cached per family (training the BPE takes about a second); callers must not reconfigure it.
    """
    from transformers import AutoTokenizer

    from acc.modeling.checkpoint import _minilm_dir

    if family in ("bert", "distilbert"):
        return AutoTokenizer.from_pretrained(str(_minilm_dir()))
    from tokenizers import processors

    from acc.modeling.corpus import hf_tokenizer, train_tokenizer
    from acc.modeling.data import load_sst2

    bpe = train_tokenizer(load_sst2("train").texts[:3000], vocab_size=1100, special_tokens=ROBERTA_SPECIALS)
    bpe.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return hf_tokenizer(bpe, bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                        cls_token="<s>", sep_token="</s>")  # fmt: skip


def tiny_hf_model(family: str, vocab_size: int, num_layers: int = 4, num_labels: int = 2, seed: int = 0) -> Any:
    """A random Hugging Face ``*ForSequenceClassification`` of ``family`` (eval mode, no dropout at inference)."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    common = {"vocab_size": vocab_size, "num_labels": num_labels}
    if family == "distilbert":
        config = tf.DistilBertConfig(dim=32, n_layers=num_layers, n_heads=4, hidden_dim=64, **common)
        return tf.DistilBertForSequenceClassification(config).eval()
    sizes = {"hidden_size": 32, "num_hidden_layers": num_layers, "num_attention_heads": 4, "intermediate_size": 64}
    if family == "bert":
        return tf.BertForSequenceClassification(tf.BertConfig(**sizes, **common)).eval()
    if family == "roberta":
        config = tf.RobertaConfig(**sizes, max_position_embeddings=514, pad_token_id=1, type_vocab_size=1, **common)
        return tf.RobertaForSequenceClassification(config).eval()
    if family == "mpnet":
        # Few relative-position buckets' worth of distance is reached quickly: 32 buckets, max distance 128.
        config = tf.MPNetConfig(**sizes, max_position_embeddings=514, **common)
        return tf.MPNetForSequenceClassification(config).eval()
    raise ValueError(f"unknown family {family!r}")


def make_tiny_encoder(family: str, directory: Path, num_layers: int = 4, num_labels: int = 2) -> Path:
    """An ACC checkpoint directory of a tiny random ``family`` classifier (``num_labels=1``: a regression head)."""
    from acc.modeling.checkpoint import AccConfig, LoadedModel, save_checkpoint
    from acc.modeling.model import AccEncoderForSequenceClassification

    tokenizer = tiny_tokenizer(family)
    hf = tiny_hf_model(family, len(tokenizer), num_layers, num_labels)
    labels = ("score",) if num_labels == 1 else ("negative", "positive")
    loaded = LoadedModel(AccEncoderForSequenceClassification(hf), tokenizer, AccConfig(labels=labels, max_length=128),
                         f"tiny {family}")  # fmt: skip
    return save_checkpoint(loaded, directory)
