"""A tiny random ACC T5 checkpoint (3 encoder + 2 decoder layers, d_model 32) with a real BPE tokenizer.

The tokenizer is trained in a second on SST-2 sentences (``acc.modeling.corpus.train_tokenizer``) and wrapped for
T5 exactly as the shipped model's (``acc.modeling.seq2seq.t5_tokenizer``). Relative-position buckets are few (8,
max distance 16) so short test sequences already reach the logarithmic buckets.
"""

from __future__ import annotations

from pathlib import Path


def make_tiny_t5(directory: Path, num_layers: int = 3, num_decoder_layers: int = 2) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from acc.modeling.checkpoint import SEQ2SEQ, AccConfig
    from acc.modeling.corpus import train_tokenizer
    from acc.modeling.data import load_sst2
    from acc.modeling.seq2seq import LABEL_WORDS, AccT5ForConditionalGeneration, LoadedSeq2Seq, save_seq2seq
    from acc.modeling.seq2seq.tokenizer import t5_tokenizer

    tokenizer = t5_tokenizer(train_tokenizer(load_sst2("train").texts[:3000], vocab_size=1100))
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=num_layers,
        num_decoder_layers=num_decoder_layers, relative_attention_num_buckets=8, relative_attention_max_distance=16,
        dropout_rate=0.0, feed_forward_proj="relu", pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model = AccT5ForConditionalGeneration(T5ForConditionalGeneration(config).eval())
    acc_config = AccConfig(family=SEQ2SEQ, labels=LABEL_WORDS, max_length=128)
    return save_seq2seq(LoadedSeq2Seq(model, tokenizer, acc_config, source="tiny random T5"), directory)
