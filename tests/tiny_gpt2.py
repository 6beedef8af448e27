"""A tiny random GPT-2 checkpoint (hidden 32) with a real byte-level BPE trained on SST-2 dev sentences.

The tokenizer comes from ``acc.modeling.corpus.train_tokenizer`` (vocabulary 512, under a second on CPU), so the
checkpoint exercises the same tokenizer path as the shipped model; the weights are random and tiny so every causal
test runs in milliseconds.
"""

from __future__ import annotations

from pathlib import Path


def make_tiny_gpt2(directory: Path, num_layers: int = 3, seed: int = 0) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from acc.modeling.causal import AccGPT2LMHeadModel
    from acc.modeling.causal.checkpoint import (
        LoadedCausalLM,
        causal_acc_config,
        prepare_tokenizer,
        save_causal_checkpoint,
    )
    from acc.modeling.corpus import EOS_TOKEN, hf_tokenizer, train_tokenizer
    from acc.modeling.data import load_sst2

    torch.manual_seed(seed)
    bpe = train_tokenizer(load_sst2("dev").texts, vocab_size=512, special_tokens=(EOS_TOKEN,))
    tokenizer = prepare_tokenizer(hf_tokenizer(bpe, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN))
    eos = tokenizer.eos_token_id
    config = GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=512, n_embd=32, n_layer=num_layers, n_head=4,
                        bos_token_id=eos, eos_token_id=eos)  # fmt: skip
    hf = GPT2LMHeadModel(config).eval()
    loaded = LoadedCausalLM(AccGPT2LMHeadModel(hf), tokenizer, causal_acc_config(max_length=512), "tests")
    return save_causal_checkpoint(loaded, directory)
