"""ACC GPT-2 checkpoints: a Hugging Face GPT-2 directory plus ``acc_config.json`` with ``family: causal-lm``.

The same contract as the BERT checkpoints (``acc.modeling.checkpoint``): safetensors only, fp16 on disk allowed,
fp32 in memory, written to a temp directory and renamed. Extra keys (``card``: one line for ``model_aliases``) are
written beside the ``AccConfig`` fields; readers that do not know them ignore them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import ModelError

from ..checkpoint import (
    ACC_CONFIG_NAME,
    CAUSAL_LM,
    AccConfig,
    load_error,
    model_family,
    resolve_model_dir,
    save_weights,
    write_atomically,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .model import AccGPT2LMHeadModel

# Column sums over the queries that can see the token (docs/METHOD.md#8-other-families).
CAUSAL_SCORE = "acc-causal-column-mean-v1"
DEFAULT_EOS = "<|endoftext|>"


@dataclass
class LoadedCausalLM:
    """An ACC GPT-2 ready to run: wrapper, tokenizer (left padding), ACC config and where it came from."""

    model: AccGPT2LMHeadModel
    tokenizer: PreTrainedTokenizerBase
    acc_config: AccConfig
    source: str


def causal_acc_config(**fields: Any) -> AccConfig:
    """The ``AccConfig`` of a causal LM: no labels, the causal score, the family field set."""
    return AccConfig(score=CAUSAL_SCORE, labels=(), family=CAUSAL_LM, **fields)


def is_causal_checkpoint(name: str | os.PathLike[str]) -> bool:
    """True for a local directory (or shipped alias) holding a GPT-2 language model (no network)."""
    try:
        location = resolve_model_dir(name)
        return isinstance(location, Path) and model_family(location) == CAUSAL_LM
    except ModelError:
        return False


def load_causal_model(name: str | os.PathLike[str], attention: str = "eager") -> LoadedCausalLM:
    """Load an ACC GPT-2 checkpoint, a plain GPT-2 directory or a hub id (needs network) in fp32, eval mode."""
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel

    from .model import AccGPT2LMHeadModel

    location = resolve_model_dir(name)
    local = isinstance(location, Path)
    if local and model_family(location) != CAUSAL_LM:
        raise ModelError(
            f"{location} is a {model_family(location)} checkpoint, not a causal LM; pass a GPT-2 checkpoint"
        )
    try:
        hf = GPT2LMHeadModel.from_pretrained(
            str(location), dtype=torch.float32, use_safetensors=True, attn_implementation="eager"
        )
        tokenizer = AutoTokenizer.from_pretrained(str(location))
    except (OSError, ValueError) as exc:
        raise load_error(name, location, exc) from exc
    prepare_tokenizer(tokenizer)
    acc_config = AccConfig.load(location) if local and (location / ACC_CONFIG_NAME).exists() else causal_acc_config()
    model = AccGPT2LMHeadModel(hf.float(), min_keep=acc_config.min_keep, attention=attention)
    return LoadedCausalLM(model=model.eval(), tokenizer=tokenizer, acc_config=acc_config, source=str(location))


def prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Left padding with the eos token as pad (GPT-2 has no pad token): the last prompt token ends every row."""
    if tokenizer.eos_token is None:
        tokenizer.eos_token = DEFAULT_EOS
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def save_causal_checkpoint(
    loaded: LoadedCausalLM, directory: str | os.PathLike[str], fp16: bool = False, extra: dict[str, Any] | None = None
) -> Path:
    """Write weights (safetensors), tokenizer and acc_config.json (+ ``extra`` keys); atomic: temp dir then rename."""

    def write(tmp: Path) -> None:
        save_weights(loaded.model.hf, loaded.tokenizer, tmp, fp16)
        loaded.acc_config.family = CAUSAL_LM
        loaded.acc_config.save(tmp)
        if extra:
            path = tmp / ACC_CONFIG_NAME
            path.write_text(json.dumps({**json.loads(path.read_text()), **extra}, indent=2) + "\n")

    return write_atomically(directory, write)
