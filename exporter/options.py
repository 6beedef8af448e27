"""``ExportOptions``: the one place that defines acc-export's flags, defaults and API kwargs (they cannot drift):
the parser is generated from the fields (``flags.py``), so every default is written once."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from acc.profiles import DEFAULT_REFERENCE_LENGTH, ExportError, parse_speedups
from acc.tools import cli

from .engines.record import parse_precisions
from .engines.shapes import parse_range
from .flags import add_flags, flag, flag_group, read_flags
from .fused_attention import ATTENTION_FORMS
from .int8 import Int8Options
from .precision import parse_graph_precisions
from .triton import TritonOptions


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise ExportError(f"{name} takes comma-separated integers, got {text!r}; write e.g. 1,8,32") from None
    if not values or min(values) < 1:
        raise ExportError(f"{name} takes positive integers, got {text!r}; write e.g. 1,8,32")
    return values


@dataclass(frozen=True)
class ExportOptions:
    """Everything ``main_export`` needs; each field's metadata spells its acc-export flag (``flags.py``)."""

    model: str = field(default="bert-sst2", metadata=flag("shipped alias, ACC checkpoint directory or hub id"))
    speedups: tuple[float, ...] = field(
        default=(1.5, 3.0, 4.8),
        metadata=flag("comma-separated target speedups (1 = dense)", parse=lambda text, _: tuple(parse_speedups(text))),
    )
    output: Path | None = field(
        default=None,
        metadata=flag("bundle directory (default bundles/<model>)", names=("-o", "--output"), type=Path, metavar="DIR"),
    )
    adjustable: bool = field(default=True, metadata=flag("skip the adjustable graph (keep ratios as a runtime input)"))
    inline: bool = field(
        default=False, metadata=flag("write graphs with TokenSelect expanded (for parsers without local functions)")
    )
    reference_length: int = field(
        default=DEFAULT_REFERENCE_LENGTH, metadata=flag("length at which each profile reaches its target speedup")
    )
    data_dir: Path | None = field(
        default=None,
        metadata=flag("SST-2 folder (default: ACC_DATA_DIR, then the copy shipped in the package)", type=Path),
    )
    validation_data: Path | None = field(
        default=None,
        metadata=flag(  # read by validation_set.py
            "texts to validate on: one per line (.txt), TSV with a header (text, optional text_pair, label) or JSONL "
            "(text, text_pair, label); default: SST-2 dev for SST-2 models, else a shipped English sample",
            type=Path,
            metavar="FILE",
        ),
    )
    max_examples: int | None = field(default=None, metadata=flag("validate on the first N examples", type=int))
    max_length: int | None = field(
        default=None,
        metadata=flag(
            "the bundle's token limit, written into the manifest, tokenizer.json and Triton config (default: the "
            "model's position limit, e.g. 512; T5: 128)",
            type=int,
        ),
    )
    validate_grid: str = field(
        default="fast",
        metadata=flag("synthetic (batch, length) grid validated besides SST-2", choices=("fast", "slow", "none")),
    )
    atol: float | None = field(default=None, metadata=flag("override the logits tolerance (fp32: 1e-4)", type=float))
    allow_mismatch: bool = field(
        default=False, metadata=flag("write the bundle despite tolerance failures (recorded in the manifest)")
    )
    bench: bool = field(default=True, metadata=flag("skip the CPU latency table"))
    bench_batches: tuple[int, ...] = field(
        default=(1, 8), metadata=flag("batch sizes of the latency table", parse=_ints)
    )
    bench_seqs: tuple[int, ...] = field(
        default=(64, 128), metadata=flag("sequence lengths of the latency table", parse=_ints)
    )
    bench_iters: int = field(default=20, metadata=flag("timed iterations per latency cell"))
    threads: int | None = field(default=None, metadata=flag("ONNX Runtime intra-op threads", type=int))
    overwrite: bool = field(default=False, metadata=flag("replace an existing bundle"))
    progress: bool = field(default=True, metadata=flag("no progress lines or bars", names=("-q", "--quiet")))
    engine: str | None = field(
        default=None,
        metadata=flag("also build a TensorRT (or TensorRT-RTX) engine per graph for this GPU", choices=("trt",)),
    )
    engine_precision: tuple[str, ...] = field(
        default=("fp16",),
        metadata=flag("engine precisions: fp16, fp32 or fp16,fp32", parse=lambda text, _: parse_precisions(text)),
    )
    engine_batch: tuple[int, int, int] = field(
        default=(1, 8, 32), metadata=flag("engine batch range min,opt,max", parse=parse_range)
    )
    engine_seq: tuple[int, int, int] = field(
        default=(16, 128, 512), metadata=flag("engine sequence-length range min,opt,max", parse=parse_range)
    )
    engine_target: str | None = field(
        default=None,
        metadata=flag(
            "TensorRT-RTX only: target compute capability such as sm89 (default: this GPU); with a target it builds "
            "ahead of time on a machine without a GPU",
            type=str,
        ),
    )
    triton: Path | None = field(
        default=None,
        metadata=flag(
            "also write a Triton Inference Server model repository (one ONNX Runtime model per profile) to DIR",
            type=Path,
            metavar="DIR",
        ),
    )
    from_bundle: Path | None = field(
        default=None,
        metadata=flag(
            "an existing bundle to convert for --triton DIR (exports nothing; --model is then unused)",
            positional=True,
            metavar="BUNDLE",
            type=Path,
        ),
    )
    triton_options: TritonOptions = field(default_factory=TritonOptions, metadata=flag_group("triton-"))
    precision: tuple[str, ...] = field(
        default=("fp32",),
        metadata=flag(
            "ONNX graph precisions: fp32 (always), fp16 (selection in fp32), fp16-all, int8 (CPU: int8 weight matmuls, "
            "ACC score and selection float); e.g. fp32,int8",
            parse=lambda text, _: parse_graph_precisions(text),
        ),
    )
    int8: Int8Options = field(default_factory=Int8Options, metadata=flag_group("int8-"))  # how int8 quantises
    attention: str = field(
        default="eager",
        metadata=flag(  # fused: see fused_attention.py
            "graph form: eager (portable ONNX, TensorRT) or fused (ONNX Runtime MultiHeadAttention + ai.acc::AccScore: "
            "no n×n tensor; fast with acc-build-ops)",
            choices=ATTENTION_FORMS,
        ),
    )
    device: str = field(
        default="auto",
        metadata=flag(  # validation and the latency table run on ONNX Runtime CPU
            "auto and cpu: validate and time on ONNX Runtime CPU (the export's reference); GPU latency comes from "
            "acc-calibrate BUNDLE --device cuda after the export",
            type=cli.device_arg,
            metavar=cli.DEVICE_METAVAR,
        ),
    )
    sign_key: Path | None = field(
        default=None,
        metadata=flag(
            "sign the bundle's manifest with this PEM elliptic-curve private key (manifest.json.sig; verify with "
            "Runtime.load(..., verify_key=PUB.pem))",
            type=Path,
            metavar="KEY.pem",
        ),
    )

    def __post_init__(self) -> None:
        """Values argparse cannot check; every entry point (CLI or API) gets the same one-line errors."""
        if self.max_examples is not None and self.max_examples < 1:
            raise ExportError(f"--max-examples must be >= 1, got {self.max_examples}; leave it out to validate on "
                              "all 872 SST-2 dev sentences")  # fmt: skip
        repeated = sorted({s for s in self.speedups if list(self.speedups).count(s) > 1})
        if repeated:
            raise ExportError(f"--speedups names {', '.join(f'{s:g}' for s in repeated)} more than once; list each "
                              "speedup once, e.g. 1.5,3,4.8")  # fmt: skip
        if self.sign_key is not None and not Path(self.sign_key).is_file():
            raise ExportError(f"--sign-key {self.sign_key} does not exist; pass a PEM elliptic-curve private key "
                              "(openssl ecparam -name prime256v1 -genkey -noout -out key.pem)")  # fmt: skip

    def bundle_dir(self) -> Path:
        if self.output is not None:
            return Path(self.output)
        return Path("bundles") / Path(str(self.model)).name

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """acc-export's flags, generated from the fields (``flags.py``): defaults and spellings are not repeated."""
        add_flags(parser, cls)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ExportOptions:
        """The options of parsed acc-export flags, after the checks that tie several flags together."""
        if getattr(args, "from_bundle", None) is not None and getattr(args, "triton", None) is None:
            raise ExportError(
                f"acc-export {args.from_bundle} converts an existing bundle for Triton; pass --triton DIR too"
            )
        if getattr(args, "device", "auto") not in ("auto", "cpu") and getattr(args, "engine", None) is None:
            raise ExportError(
                f"acc-export validates and times on ONNX Runtime CPU, not --device {args.device}; "
                "drop --device, then run acc-calibrate BUNDLE --device cuda for GPU latency"
            )
        return read_flags(args, cls)
