"""``BenchOptions``: the one place that defines acc-bench's flags, defaults and API kwargs (they cannot drift)."""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from acc.profiles import DataError, parse_speedups

DEFAULT_BATCHES = (1, 8, 32)
DEFAULT_SEQS = (64, 128, 256, 512)
DEFAULT_OUTPUT_DIR = Path("benchmarks") / "results"


@dataclass(frozen=True)
class BenchOptions:
    """Everything ``run_benchmark`` needs. Flags are the field names in kebab-case (``bundle`` is positional)."""

    bundle: Path | None = None
    random_bert_base: bool = False
    source: Path | None = None  # checkpoint of the dense baseline (default: the bundle's model.source)
    speedups: tuple[float, ...] = (1.5, 3.0, 4.8)  # profiles of the --random-bert-base bundle
    batches: tuple[int, ...] = DEFAULT_BATCHES
    seqs: tuple[int, ...] = DEFAULT_SEQS
    iters: int = 20
    warmup: int = 3
    threads: int | None = None  # None: every CPU this process may run on
    max_seconds_per_cell: float = 20.0
    spinning: bool = False
    output_dir: Path = DEFAULT_OUTPUT_DIR
    name: str | None = None  # default cpu-<model>
    work_dir: Path | None = None  # where the baseline (and random bundle) go; default a temp dir, removed after
    baseline_atol: float = 1e-4
    allow_unfused_baseline: bool = False
    progress: bool = True

    def check(self) -> BenchOptions:
        """Raise one ``DataError`` line for inconsistent options; returns ``self`` for chaining."""
        if (self.bundle is None) == (not self.random_bert_base):
            raise DataError("pass a BUNDLE directory or --random-bert-base (exactly one of them)")
        if self.random_bert_base and self.source is not None:
            raise DataError("--source names the checkpoint of a BUNDLE; --random-bert-base builds its own")
        if self.iters < 1 or self.warmup < 0:
            raise DataError(f"--iters must be >= 1 and --warmup >= 0, got {self.iters} and {self.warmup}")
        if self.threads is not None and self.threads < 1:
            raise DataError(f"--threads must be >= 1, got {self.threads}; omit it to use every available CPU")
        if not self.max_seconds_per_cell > 0:
            raise DataError(f"--max-seconds-per-cell must be > 0, got {self.max_seconds_per_cell}")
        if not self.batches or not self.seqs or min(self.batches + self.seqs) < 1:
            raise DataError(f"--batches and --seqs take positive integers, got {self.batches} and {self.seqs}")
        return self

    def resolved_threads(self) -> int:
        """Intra-op threads every session gets: the flag, else the CPUs this process may use."""
        if self.threads is not None:
            return self.threads
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            return os.cpu_count() or 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy, recorded in the results' metadata."""
        data = asdict(self)
        for key in ("bundle", "source", "output_dir", "work_dir"):
            data[key] = None if data[key] is None else str(data[key])
        for key in ("speedups", "batches", "seqs"):
            data[key] = list(data[key])
        return data

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("bundle", nargs="?", type=Path, default=None, help="bundle directory written by acc-export")
        parser.add_argument("--random-bert-base", action="store_true",
                            help="benchmark a random-initialised BERT-base (12x768) ACC bundle built in a temp dir "
                                 "(latency only: no weights needed, accuracy meaningless)")
        parser.add_argument("--source", type=Path, default=None,
                            help="checkpoint for the dense baseline (default: the bundle's model.source)")
        parser.add_argument("--speedups", default="1.5,3,4.8", help="profiles of the --random-bert-base bundle")
        parser.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)), help="batch sizes (default 1,8,32)")
        parser.add_argument("--seqs", default=",".join(map(str, DEFAULT_SEQS)),
                            help="sequence lengths, every token valid (default 64,128,256,512)")
        parser.add_argument("--iters", type=int, default=20, help="timed rounds per cell (default 20)")
        parser.add_argument("--warmup", type=int, default=3, help="untimed rounds per cell (default 3)")
        parser.add_argument("--threads", type=int, default=None, help="ORT intra-op threads (default: all usable CPUs)")
        parser.add_argument("--max-seconds-per-cell", type=float, default=20.0,
                            help="stop timing a cell after this many seconds (at least 3 rounds; default 20)")
        parser.add_argument("--spin", dest="spinning", action="store_true",
                            help="let ORT worker threads spin between runs (off: sessions take turns on the cores)")
        parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR,
                            help="where <name>_<UTC>.json|.md|.png go (default benchmarks/results)")
        parser.add_argument("--name", default=None, help="results name (default cpu-<model>)")
        parser.add_argument("--work-dir", type=Path, default=None,
                            help="keep the dense baseline graph (and the random bundle) here instead of a temp dir")
        parser.add_argument("--baseline-atol", type=float, default=1e-4,
                            help="logits tolerance of the dense baseline vs PyTorch (default 1e-4)")
        parser.add_argument("--allow-unfused-baseline", action="store_true",
                            help="time the baseline even if ORT's optimizer fused no Attention (flatters speedups)")
        parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress output")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchOptions:
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        values["speedups"] = tuple(parse_speedups(args.speedups))
        values["batches"] = _ints(args.batches, "--batches")
        values["seqs"] = _ints(args.seqs, "--seqs")
        return cls(**values).check()


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(item) for item in str(text).split(",") if item.strip())
    except ValueError:
        raise DataError(f"{flag} takes comma-separated integers, got {text!r}; write e.g. 1,8,32") from None
    if not values or min(values) < 1:
        raise DataError(f"{flag} takes positive integers, got {text!r}; write e.g. 1,8,32")
    return values
