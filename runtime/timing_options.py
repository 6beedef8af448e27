"""acc-bench's and acc-calibrate's flags, defaults and API kwargs in one place (they cannot drift).

Here in the runtime (it needs only ``acc.profiles``) because one command is exporter-side (acc-bench,
``acc.exporter.bench``) and one runtime-side (acc-calibrate, ``acc.runtime.calibrate``): the exporter may import the
runtime, never the other way, and neither imports ``acc.tools``.

``BenchOptions``: the benchmark against the dense baseline (``acc-bench``). ``CalibrateOptions``: ``acc-calibrate
BUNDLE``, which measures the bundle's latency table on this machine and writes it into the manifest; it shares the
grid and timing flags (``--batches``, ``--seqs``, ``--iters``, ``--warmup``, ``--threads``, ``--max-seconds-per-cell``).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from acc.profiles import DataError, parse_speedups

DEFAULT_BATCHES = (1, 8, 32)
DEFAULT_SEQS = (64, 128, 256, 512)
CALIBRATE_SEQS = (32, 64, 128, 256)
CALIBRATE_MAX_SECONDS = 5.0
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
        from acc.tools import cli

        cli.add_bundle(parser, optional=True)
        parser.add_argument(
            "--random-bert-base",
            action="store_true",
            help="benchmark a random-initialised BERT-base (12x768) ACC bundle built in a temp dir "
            "(latency only: no weights needed, accuracy meaningless)",
        )
        parser.add_argument(
            "--source",
            type=Path,
            default=None,
            help="checkpoint for the dense baseline (default: the bundle's model.source)",
        )
        parser.add_argument("--speedups", default="1.5,3,4.8", help="profiles of the --random-bert-base bundle")
        _add_timing_arguments(parser, DEFAULT_SEQS, max_seconds=BenchOptions.max_seconds_per_cell)
        parser.add_argument(
            "--spin",
            dest="spinning",
            action="store_true",
            help="let ORT worker threads spin between runs (off: sessions take turns on the cores)",
        )
        cli.add_output(parser, "folder for <name>_<UTC>.json|.md|.png", default=DEFAULT_OUTPUT_DIR,
                       dest="output_dir", metavar="DIR")  # fmt: skip
        parser.add_argument("--name", default=None, help="results name (default cpu-<model>)")
        parser.add_argument(
            "--work-dir",
            type=Path,
            default=None,
            help="keep the dense baseline graph (and the random bundle) here instead of a temp dir",
        )
        parser.add_argument(
            "--baseline-atol", type=float, default=1e-4, help="logits tolerance of the dense baseline vs PyTorch"
        )
        parser.add_argument(
            "--allow-unfused-baseline",
            action="store_true",
            help="time the baseline even if ORT's optimizer fused no Attention (flatters speedups)",
        )
        cli.add_device(parser, "auto and cpu time ONNX Runtime CPU, the only backend this benchmark compares on; "
                               "for GPU latency use acc-calibrate BUNDLE --device cuda")  # fmt: skip
        cli.add_quiet(parser)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchOptions:
        if args.device not in ("auto", "cpu"):
            raise DataError(
                f"acc-bench times ONNX Runtime CPU only, not --device {args.device}; drop --device "
                "(or pass --device cpu), or measure the GPU with acc-calibrate BUNDLE --device cuda"
            )
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        values["speedups"] = tuple(parse_speedups(args.speedups))
        values["batches"] = _ints(args.batches, "--batches")
        values["seqs"] = _ints(args.seqs, "--seqs")
        values["progress"] = not args.quiet
        return cls(**values).check()


def _add_timing_arguments(parser: argparse.ArgumentParser, seqs: tuple[int, ...], max_seconds: float) -> None:
    """The grid and timing flags acc-bench and acc-calibrate share (their defaults differ only in seqs and time)."""
    parser.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)), help="batch sizes")
    parser.add_argument("--seqs", default=",".join(map(str, seqs)), help="sequence lengths, every token valid")
    parser.add_argument("--iters", type=int, default=20, help="timed rounds per cell")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds per cell")
    parser.add_argument("--threads", type=int, default=None, help="ORT intra-op threads (default: all usable CPUs)")
    parser.add_argument(
        "--max-seconds-per-cell",
        type=float,
        default=max_seconds,
        help="stop timing a cell after this many seconds (at least 3 rounds)",
    )


@dataclass(frozen=True)
class CalibrateOptions:
    """Everything ``acc.runtime.calibrate.calibrate`` takes; ``to_kwargs()`` is its keyword arguments."""

    bundle: Path
    device: str = "auto"
    batches: tuple[int, ...] = DEFAULT_BATCHES
    seqs: tuple[int, ...] = CALIBRATE_SEQS
    iters: int = 20
    warmup: int = 3
    threads: int | None = None  # None: onnxruntime's default, as Runtime.load(threads=None) runs
    max_seconds_per_cell: float = CALIBRATE_MAX_SECONDS
    progress: bool = True

    def check(self) -> CalibrateOptions:
        if self.iters < 1 or self.warmup < 0:
            raise DataError(f"--iters must be >= 1 and --warmup >= 0, got {self.iters} and {self.warmup}")
        if self.threads is not None and self.threads < 1:
            raise DataError(f"--threads must be >= 1, got {self.threads}; omit it for onnxruntime's default")
        if not self.max_seconds_per_cell > 0:
            raise DataError(f"--max-seconds-per-cell must be > 0, got {self.max_seconds_per_cell}")
        return self

    def to_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``calibrate`` (``progress`` is the caller's callback, not a flag)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "progress"}
        data["bundle"] = Path(self.bundle)
        return data

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from acc.tools import cli

        cli.add_bundle(parser, help="bundle directory whose manifest.json gets the latency table")
        cli.add_device(parser, "auto: CUDA when onnxruntime-gpu sees a GPU, else CPU; cuda needs onnxruntime-gpu")
        _add_timing_arguments(parser, CALIBRATE_SEQS, max_seconds=CALIBRATE_MAX_SECONDS)
        cli.add_quiet(parser)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CalibrateOptions:
        from acc.tools.cli import select_gpu

        return cls(
            bundle=args.bundle,
            device=select_gpu(args.device),
            batches=_ints(args.batches, "--batches"),
            seqs=_ints(args.seqs, "--seqs"),
            iters=args.iters,
            warmup=args.warmup,
            threads=args.threads,
            max_seconds_per_cell=args.max_seconds_per_cell,
            progress=not args.quiet,
        ).check()


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(item) for item in str(text).split(",") if item.strip())
    except ValueError:
        raise DataError(f"{flag} takes comma-separated integers, got {text!r}; write e.g. 1,8,32") from None
    if not values or min(values) < 1:
        raise DataError(f"{flag} takes positive integers, got {text!r}; write e.g. 1,8,32")
    return values
