"""Options of the accuracy–speedup study: one frozen record that owns its CLI flags (``benchmarks/study/run.sh``).

Every trained method shares the same budget (epochs × steps per epoch at one batch size and learning rate), the same
training data (SST-2 train minus the held-out split) and the same evaluation (SST-2 dev), so a difference between
curves is a difference between methods. ``smoke`` shrinks everything so the same code path runs on a CPU in seconds.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from acc.profiles import DEFAULT_REFERENCE_LENGTH, AccError, parse_speedups

DEFAULT_SPEEDUPS = (1.25, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 4.8, 5.0, 5.5)  # offline-tuning curves (geometric)
DEFAULT_BUDGETS = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.8, 5.5)  # searched curves: best profile at >= this speedup
_TUPLE_FIELDS = ("speedups", "budgets")


class StudyError(AccError):
    """Study options or inputs that cannot work."""


_HELP = {
    "out": "folder the stage's results JSON is written to",
    "work_dir": "folder for checkpoints handed from one stage to the next (stages of one machine share it)",
    "model": "model to start from: minilm-l6 (pre-trained) for dense/lat, bert-sst2 for acc; power-bert reads "
    "WORK_DIR/dense unless given",
    "data_dir": "SST-2 folder (default: $ACC_DATA_DIR, then the copy shipped in the package)",
    "epochs": "training epochs of every method trained from the pre-trained model (the shared budget)",
    "batch_size": "training batch size",
    "lr": "peak AdamW learning rate (BERT weights)",
    "warmup": "fraction of steps with linear warm-up",
    "max_length": "tokens per example after truncation (training and evaluation)",
    "seed": "seed for initialisation, shuffling, sampling, the held-out split and the search",
    "heldout": "SST-2 train examples held out for searches (excluded from every study training run)",
    "heldout_min_words": "held-out examples are drawn from training phrases of at least this many words",
    "max_train_examples": "train on only the first N examples of the training rest (smoke runs)",
    "max_dev_examples": "evaluate on only the first N dev examples (smoke runs)",
    "eval_batch_size": "evaluation batch size (dev and held-out)",
    "reference_length": "length at which speedups become profiles and at which the theoretical speedup is plotted",
    "device": "auto (cuda when available), cpu, cuda or cuda:N",
    "amp": "bf16 autocast for training on CUDA (the shipped bert-sst2 was trained without it)",
    "speedups": "speedups of the geometric (offline-tuning) curves",
    "budgets": "minimum speedups the searches pick their best profile for",
    "population": "search: initial random candidates",
    "generations": "search: generations",
    "mutations": "search: new candidates per generation by mutation",
    "crossovers": "search: new candidates per generation by crossover",
    "mutation_prob": "search: probability that mutation resamples a layer",
    "search_seconds": "search: start no generation after this many seconds (anytime; default no limit)",
    "deadline_s": "wall seconds the stage may take from its start: searches stop early (they are anytime) to leave "
    "time for the dev evaluation; training is never cut (it is the compared budget)",
    "s_max": "LAT: speedup of the smallest LengthDrop sub-model (sets the drop bound p)",
    "num_random": "LAT: random sub-models per step besides the full and the smallest",
    "power_speedup": "PoWER-BERT: target speedup of this run (one model per speedup)",
    "power_lambda": "PoWER-BERT: λ of the retention penalty (default: a table by target speedup)",
    "retention_lr": "PoWER-BERT: learning rate of the retention values",
    "power_search_epochs": "PoWER-BERT: epochs of soft-extraction configuration search",
    "power_retrain_epochs": "PoWER-BERT: epochs of re-training with hard extraction",
    "latency_bundle": "acc: also search with a measured-latency cost from this bundle's latency table",
    "latency_batch": "acc: batch of the latency-table cell used as cost",
    "latency_seq": "acc: sequence length of the latency-table cell used as cost",
    "smoke": "tiny run of the same code path on CPU (32 training examples, 1 epoch, 2 search generations)",
    "progress": "no progress bars (stage and epoch lines are printed either way)",
}
_OPTIONAL_TYPES = {
    "data_dir": str, "max_train_examples": int, "max_dev_examples": int, "search_seconds": float, "deadline_s": float,
    "power_lambda": float, "latency_bundle": str, "model": str,
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class StudyOptions:
    """Everything a study stage depends on; recorded in its results JSON."""

    out: str
    work_dir: str = "/tmp/acc-study"
    model: str | None = None
    data_dir: str | None = None
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-4
    warmup: float = 0.06
    max_length: int = 64
    seed: int = 0
    heldout: int = 2000
    heldout_min_words: int = 8
    max_train_examples: int | None = None
    max_dev_examples: int | None = None
    eval_batch_size: int = 256
    reference_length: int = DEFAULT_REFERENCE_LENGTH
    device: str = "auto"
    amp: bool = False
    speedups: tuple[float, ...] = DEFAULT_SPEEDUPS
    budgets: tuple[float, ...] = DEFAULT_BUDGETS
    population: int = 20
    generations: int = 30
    mutations: int = 10
    crossovers: int = 10
    mutation_prob: float = 0.5
    search_seconds: float | None = None
    deadline_s: float | None = None
    s_max: float = 5.0
    num_random: int = 1
    power_speedup: float = 3.0
    power_lambda: float | None = None
    retention_lr: float = 1.5e-3
    power_search_epochs: int = 1
    power_retrain_epochs: int = 1
    latency_bundle: str | None = None
    latency_batch: int = 8
    latency_seq: int = 128
    smoke: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        for name in _TUPLE_FIELDS:
            object.__setattr__(self, name, tuple(float(s) for s in getattr(self, name)))
        for name in ("epochs", "batch_size", "max_length", "eval_batch_size", "heldout", "reference_length",
                     "power_search_epochs", "power_retrain_epochs"):  # fmt: skip
            if getattr(self, name) < 1:
                raise StudyError(f"{name}={getattr(self, name)} must be at least 1")
        if any(s < 1.0 for s in self.speedups + self.budgets):
            raise StudyError("speedups and budgets must be >= 1; write them like 1.5,3,4.8")

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One kebab-case flag per field, defaults from the fields; ``out`` is ``-o/--output`` (required), ``device``
        takes ``{auto,cpu,cuda,cuda:N}`` and ``progress`` is ``--quiet``, as in every acc-* command (``acc.tools.cli``).
        """
        from acc.tools import cli

        for item in fields(cls):
            flag = "--" + item.name.replace("_", "-")
            if item.name == "out":
                cli.add_output(parser, _HELP[item.name], required=True, dest="out", metavar="DIR")
            elif item.name == "device":
                cli.add_device(parser, _HELP[item.name], default=item.default)
            elif item.name == "progress":
                cli.add_quiet(parser, _HELP[item.name])
            elif item.name in _TUPLE_FIELDS:
                default = ",".join(f"{s:g}" for s in item.default)
                parser.add_argument(flag, default=default, help=f"{_HELP[item.name]} (default {default})")
            elif isinstance(item.default, bool):
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=item.default,
                                    help=_HELP[item.name])  # fmt: skip
            else:
                kind = _OPTIONAL_TYPES.get(item.name) or type(item.default)
                suffix = "" if item.default is None else f" (default {item.default})"
                parser.add_argument(flag, type=kind, default=item.default, help=_HELP[item.name] + suffix)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StudyOptions:
        values = {item.name: getattr(args, item.name) for item in fields(cls) if item.name != "progress"}
        values["progress"] = not args.quiet
        values["out"] = str(args.out)
        for name in _TUPLE_FIELDS:
            if isinstance(values[name], str):
                values[name] = tuple(parse_speedups(values[name]))
        return cls(**values)

    def resolved(self) -> StudyOptions:
        """The options a stage runs with: ``smoke`` shrinks data, epochs and search, and runs on the CPU."""
        if not self.smoke:
            return self
        return replace(
            self, device="cpu", epochs=1, batch_size=8, max_length=32, heldout=16, heldout_min_words=8,
            max_train_examples=min(self.max_train_examples or 32, 32),
            max_dev_examples=min(self.max_dev_examples or 32, 32), eval_batch_size=32,
            speedups=(1.5, 3.0, 4.8), budgets=(1.5, 3.0, 4.8), population=4, generations=2, mutations=3,
            crossovers=3, power_search_epochs=1, power_retrain_epochs=1, progress=False,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _TUPLE_FIELDS:
            data[name] = list(data[name])
        return data

    def finetune_options(self, output_dir: str, **overrides: Any) -> Any:
        """acc-finetune's options for the training loop (same validation, same optimizer and schedule)."""
        from acc.modeling.finetune import FinetuneOptions

        values = dict(output_dir=output_dir, model=self.model or "minilm-l6", data_dir=self.data_dir,
                      epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, warmup=self.warmup,
                      max_length=self.max_length, seed=self.seed, s_max=self.s_max, num_random=self.num_random,
                      reference_length=self.reference_length, device=self.device, amp=self.amp)  # fmt: skip
        values.update(overrides)
        return FinetuneOptions(**values)
