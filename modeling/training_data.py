"""What ``acc-finetune`` trains and evaluates on: SST-2 (shipped) or the user's ``--train-file`` / ``--eval-file``.

The files go through the same reader as ``acc-export --validation-data`` (``example_files``); their labels decide
the head: integer or word labels a classifier with one output per class, fractional numbers a regression head
(``num_labels=1``, MSE).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from acc.profiles import DataError, ModelError

from .example_files import Examples, LabelScheme, infer_label_scheme, read_examples

if TYPE_CHECKING:
    from .checkpoint import LoadedModel

REGRESSION_LABELS = ("score",)


@dataclass(frozen=True)
class TrainingData:
    train: Examples
    eval: Examples
    name: str  # the training record's "data": sst2-train or file:NAME
    eval_data: str | None  # acc_config.json eval_data: sst2-dev for SST-2 models (acc-export validates on it)
    scheme: LabelScheme | None  # None: SST-2's two classes, the model's own head

    @property
    def num_labels(self) -> int | None:
        if self.scheme is None:
            return None
        return 1 if self.scheme.regression else len(self.scheme.names)

    def load_model(self, name: str | os.PathLike[str]) -> LoadedModel:
        """The starting model with a head that fits the data (a base model gets a fresh one of the right size)."""
        from .checkpoint import load_model

        loaded = load_model(name, num_labels=self.num_labels)
        wanted = self.num_labels
        if wanted is None:
            return loaded
        found = loaded.model.config.num_labels
        if found != wanted:
            raise ModelError(f"model {name} has {found} outputs, the labels of {self.name} need {wanted}; start from "
                             "a base model (--model minilm-l6) or a checkpoint with that head")  # fmt: skip
        names = REGRESSION_LABELS if self.scheme.regression else self.scheme.names
        if not self.scheme.regression and all(n.isdigit() for n in names) and len(loaded.acc_config.labels) == found:
            names = loaded.acc_config.labels  # integer labels index the model's own class names
        return replace(loaded, acc_config=replace(loaded.acc_config, labels=tuple(names)))


def load_training_data(
    train_file: str | os.PathLike[str] | None,
    eval_file: str | os.PathLike[str] | None,
    data_dir: str | os.PathLike[str] | None = None,
) -> TrainingData:
    """SST-2 train/dev when no file is given; else both files, read with one label scheme inferred from both."""
    from .data import load_sst2

    if train_file is None or eval_file is None:
        return TrainingData(load_sst2("train", data_dir), load_sst2("dev", data_dir), "sst2-train", "sst2-dev", None)
    raw = [read_examples(path) for path in (train_file, eval_file)]
    for path, examples in zip((train_file, eval_file), raw):
        if examples.labels is None:
            raise DataError(f"{path} has no labels; add a label column (TSV header 'text<TAB>label') or a "
                            '"label" to every JSONL line')  # fmt: skip
    scheme = infer_label_scheme([*raw[0].labels, *raw[1].labels])
    train, evaluation = (read_examples(path, scheme) for path in (train_file, eval_file))
    return TrainingData(train, evaluation, f"file:{train.name}", None, scheme)
