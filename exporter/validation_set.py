"""Which labelled or unlabelled texts an export is validated on (besides the synthetic (batch, length) grid).

In order: ``--validation-data FILE``; SST-2 dev when ``--data-dir`` is given or the checkpoint was fine-tuned on
SST-2 (``acc_config.json``: ``eval_data`` or a ``training.data`` of ``sst2-train``, as for ``bert-sst2``); else the
generic English sample shipped in ``acc.modeling.datasets``, so any checkpoint (a 3-class classifier, a regression
head, a model trained on something else) is checked for agreement with PyTorch without SST-2 labels it never
learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from acc.modeling.example_files import Examples, label_scheme, read_examples

SST2_DEV = "sst2-dev"
GENERIC_SAMPLE = "generic-en"
GENERIC_SAMPLE_FILE = "generic_en.txt"


@dataclass(frozen=True)
class ValidationSet:
    """``name`` is the manifest's ``dataset`` and the reports' ``source``; labels decide the accuracy table."""

    name: str
    examples: Examples

    @property
    def labelled(self) -> bool:
        return self.examples.labels is not None


def generic_sample_path() -> Path:
    return Path(str(resources.files("acc.modeling.datasets") / GENERIC_SAMPLE_FILE))


def trained_on_sst2(acc_config: Any) -> bool:
    """Did this checkpoint learn SST-2? (its eval set is then SST-2 dev, and accuracy on it means something)"""
    if getattr(acc_config, "eval_data", None) == SST2_DEV:
        return True
    training = getattr(acc_config, "training", None) or {}
    return str(training.get("data", "")).startswith("sst2-train")


def choose_validation_set(options: Any, acc_config: Any, num_labels: int) -> ValidationSet:
    """The texts ``options`` (``ExportOptions``) asks for, cut to ``--max-examples``."""
    from acc.modeling.data import load_sst2

    if options.validation_data is not None:
        path = Path(options.validation_data)
        examples = read_examples(path, label_scheme(acc_config.labels, num_labels), name=path.name)
        name = f"file:{path.name}"
    elif options.data_dir is not None or trained_on_sst2(acc_config):
        examples, name = load_sst2("dev", options.data_dir), SST2_DEV
    else:
        examples, name = read_examples(generic_sample_path(), name=GENERIC_SAMPLE), GENERIC_SAMPLE
    return ValidationSet(name, examples.head(options.max_examples))
