"""ACC T5 checkpoints: a Hugging Face T5 directory plus ``acc_config.json`` with the prompt templates.

The same contract as the BERT checkpoints (``acc.modeling.checkpoint``): safetensors only, fp16 on disk and fp32 in
memory, written to a temp directory and renamed. ``acc_config.json`` gains one key, ``prompts`` (the instruction
templates trained on, the held-out ones, the label words); ``AccConfig`` ignores keys it does not know, so older
readers still load the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.modeling.checkpoint import (
    ACC_CONFIG_NAME,
    AccConfig,
    resolve_model_dir,
    save_weights,
    write_atomically,
)
from acc.profiles import ModelError

from .prompts import HELD_OUT_TEMPLATES, LABEL_WORDS, TRAIN_TEMPLATES, templates_to_json

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .model import AccT5ForConditionalGeneration

PROMPTS_KEY = "prompts"
SEQ2SEQ_MODEL_TYPES = ("t5",)


@dataclass
class LoadedSeq2Seq:
    """An ACC T5 ready to run: wrapper, tokenizer, ACC config, prompt record and where it came from."""

    model: AccT5ForConditionalGeneration
    tokenizer: PreTrainedTokenizerBase
    acc_config: AccConfig
    prompts: dict[str, Any] = field(default_factory=lambda: templates_to_json(TRAIN_TEMPLATES, HELD_OUT_TEMPLATES))
    source: str = ""


def model_type_of(directory: str | os.PathLike[str]) -> str | None:
    """``model_type`` from a checkpoint's config.json (None when unreadable): how callers tell T5 from BERT."""
    try:
        return json.loads((Path(directory) / "config.json").read_text()).get("model_type")
    except (OSError, ValueError):
        return None


def is_seq2seq_checkpoint(name: str | os.PathLike[str]) -> bool:
    """True for a local directory (or shipped alias) holding an encoder–decoder model this package runs."""
    try:
        location = resolve_model_dir(name)
    except ModelError:
        return False
    return isinstance(location, Path) and model_type_of(location) in SEQ2SEQ_MODEL_TYPES


def load_seq2seq(name: str | os.PathLike[str]) -> LoadedSeq2Seq:
    """Load an ACC T5 checkpoint (alias or directory; a hub id needs network) in fp32, eager, eval mode."""
    import torch
    from transformers import AutoTokenizer, T5ForConditionalGeneration
    from transformers.utils import logging as hf_logging

    from .model import AccT5ForConditionalGeneration

    location = resolve_model_dir(name)
    local = isinstance(location, Path)
    if local and model_type_of(location) not in SEQ2SEQ_MODEL_TYPES:
        raise ModelError(
            f"{location} holds a {model_type_of(location)!r} model, not T5; pass a T5ForConditionalGeneration checkpoint"
        )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        hf = T5ForConditionalGeneration.from_pretrained(str(location), dtype=torch.float32, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(str(location))
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if local:
            raise ModelError(f"cannot load T5 model from {location}: {first}; check the directory's files") from exc
        raise ModelError(
            f"cannot load T5 model {str(name)!r}: not a local directory and the Hugging Face hub did not serve it "
            f"({first}); pass a local checkpoint directory"
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    acc_config = AccConfig.load(location) if local else AccConfig(labels=LABEL_WORDS)
    prompts = _read_prompts(location) if local else None
    model = AccT5ForConditionalGeneration(hf.float(), min_keep=acc_config.min_keep).eval()
    loaded = LoadedSeq2Seq(model, tokenizer, acc_config, source=str(location))
    if prompts is not None:
        loaded.prompts = prompts
    return loaded


def save_seq2seq(loaded: LoadedSeq2Seq, directory: str | os.PathLike[str], fp16: bool = False) -> Path:
    """Write weights (safetensors), tokenizer and acc_config.json (with ``prompts``); atomic: temp dir, rename."""

    def write(tmp: Path) -> None:
        save_weights(loaded.model.hf, loaded.tokenizer, tmp, fp16)
        loaded.acc_config.save(tmp)
        path = tmp / ACC_CONFIG_NAME
        data = json.loads(path.read_text())
        data[PROMPTS_KEY] = loaded.prompts
        card = (loaded.acc_config.training.get("model_card") or {}).get("summary")
        if card:
            data["card"] = card  # the one-line description acc.modeling.checkpoint.model_aliases shows
        path.write_text(json.dumps(data, indent=2) + "\n")

    return write_atomically(directory, write)


def _read_prompts(directory: Path) -> dict[str, Any] | None:
    path = directory / ACC_CONFIG_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text()).get(PROMPTS_KEY)
    except ValueError as exc:
        raise ModelError(f"{path} is not valid JSON ({exc}); re-run the training or delete the file") from exc
