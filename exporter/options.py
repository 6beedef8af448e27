"""``ExportOptions``: the one place that defines acc-export's flags, defaults and API kwargs (they cannot drift)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path

from acc.profiles import DEFAULT_REFERENCE_LENGTH, ExportError, parse_speedups

from .engines.record import parse_precisions
from .engines.shapes import parse_range
from .fused_attention import ATTENTION_FORMS
from .int8 import Int8Options
from .precision import parse_graph_precisions
from .triton import TritonOptions


@dataclass(frozen=True)
class ExportOptions:
    """Everything ``main_export`` needs. Flags are the field names in kebab-case."""

    model: str = "bert-sst2"
    speedups: tuple[float, ...] = (1.5, 3.0, 4.8)
    output: Path | None = None  # default: bundles/<model name>
    adjustable: bool = True
    inline: bool = False
    reference_length: int = DEFAULT_REFERENCE_LENGTH
    data_dir: Path | None = None
    validation_data: Path | None = None  # txt / TSV / JSONL (validation_set.py); default: the model's own set
    max_examples: int | None = None  # SST-2 dev examples to validate on (None = all 872)
    max_length: int | None = None  # the bundle's token limit; None: the model's positions (T5: 128)
    validate_grid: str = "fast"  # fast | slow | none
    atol: float | None = None
    allow_mismatch: bool = False
    bench: bool = True
    bench_batches: tuple[int, ...] = (1, 8)
    bench_seqs: tuple[int, ...] = (64, 128)
    bench_iters: int = 20
    threads: int | None = None
    overwrite: bool = False
    progress: bool = True
    engine: str | None = None  # "trt": also build a TensorRT / TensorRT-RTX engine per graph (on this GPU)
    engine_precision: tuple[str, ...] = ("fp16",)
    engine_batch: tuple[int, int, int] = (1, 8, 32)  # min, opt, max
    engine_seq: tuple[int, int, int] = (16, 128, 512)
    engine_target: str | None = None  # TensorRT-RTX target compute capability (sm89, ...); default this GPU
    triton: Path | None = None  # also write a Triton Inference Server model repository here
    from_bundle: Path | None = None  # with triton: convert this existing bundle instead of exporting
    triton_options: TritonOptions = field(default_factory=TritonOptions)
    precision: tuple[str, ...] = ("fp32",)  # graph precisions: fp32 always, plus fp16 / fp16-all / int8 variants
    int8: Int8Options = field(default_factory=Int8Options)  # how --precision int8 quantises
    attention: str = "eager"  # "fused": ONNX Runtime attention + ai.acc::AccScore (fused_attention.py)
    device: str = "auto"  # validation and the latency table run on ONNX Runtime CPU: auto means cpu here
    sign_key: Path | None = None  # PEM private key: sign the manifest (manifest.json.sig, acc-deploy[sign])

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

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from acc.tools import cli

        cli.add_bundle(parser, optional=True,
                       help="an existing bundle to convert for --triton DIR (exports nothing; --model is then unused)")
        parser.add_argument("--model", default="bert-sst2", help="shipped alias, ACC checkpoint directory or hub id")
        parser.add_argument("--speedups", default="1.5,3,4.8", help="comma-separated target speedups (1 = dense)")
        cli.add_output(parser, "bundle directory (default bundles/<model>)", metavar="DIR")
        parser.add_argument("--no-adjustable", dest="adjustable", action="store_false",
                            help="skip the adjustable graph (keep ratios as a runtime input)")
        parser.add_argument("--inline", action="store_true",
                            help="write graphs with TokenSelect expanded (for parsers without local functions)")
        parser.add_argument("--reference-length", type=int, default=DEFAULT_REFERENCE_LENGTH,
                            help="length at which each profile reaches its target speedup")
        parser.add_argument("--data-dir", type=Path, default=None, help="SST-2 folder (default: ACC_DATA_DIR, then the copy shipped in the package)")
        parser.add_argument("--validation-data", type=Path, default=None, metavar="FILE",
                            help="texts to validate on: one per line (.txt), TSV with a header (text, optional "
                                 "text_pair, label) or JSONL (text, text_pair, label); default: SST-2 dev for "
                                 "SST-2 models, else a shipped English sample")
        parser.add_argument("--max-examples", type=int, default=None, help="validate on the first N examples")
        parser.add_argument("--max-length", type=int, default=None,
                            help="the bundle's token limit, written into the manifest, tokenizer.json and Triton "
                                 "config (default: the model's position limit, e.g. 512; T5: 128)")
        parser.add_argument("--validate-grid", choices=("fast", "slow", "none"), default="fast",
                            help="synthetic (batch, length) grid validated besides SST-2")
        parser.add_argument("--atol", type=float, default=None, help="override the logits tolerance (fp32: 1e-4)")
        parser.add_argument("--allow-mismatch", action="store_true",
                            help="write the bundle despite tolerance failures (recorded in the manifest)")
        parser.add_argument("--no-bench", dest="bench", action="store_false", help="skip the CPU latency table")
        parser.add_argument("--bench-batches", default="1,8", help="batch sizes of the latency table")
        parser.add_argument("--bench-seqs", default="64,128", help="sequence lengths of the latency table")
        parser.add_argument("--bench-iters", type=int, default=20, help="timed iterations per latency cell")
        parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
        cli.add_quiet(parser)
        cli.add_device(parser, "auto and cpu: validate and time on ONNX Runtime CPU (the export's reference); GPU "
                               "latency comes from acc-calibrate BUNDLE --device cuda after the export")  # fmt: skip
        parser.add_argument("--engine", choices=("trt",), default=None,
                            help="also build a TensorRT (or TensorRT-RTX) engine per graph for this GPU")
        parser.add_argument("--engine-precision", default="fp16", help="engine precisions: fp16, fp32 or fp16,fp32")
        parser.add_argument("--engine-batch", default="1,8,32", help="engine batch range min,opt,max")
        parser.add_argument("--engine-seq", default="16,128,512", help="engine sequence-length range min,opt,max")
        parser.add_argument("--engine-target", default=None,
                            help="TensorRT-RTX only: target compute capability such as sm89 (default: this GPU); "
                                 "with a target it builds ahead of time on a machine without a GPU")
        parser.add_argument("--triton", type=Path, default=None, metavar="DIR",
                            help="also write a Triton Inference Server model repository (one ONNX Runtime model "
                                 "per profile) to DIR")
        TritonOptions.add_arguments(parser)
        parser.add_argument("--precision", default="fp32",
                            help="ONNX graph precisions: fp32 (always), fp16 (selection in fp32), fp16-all, int8 "
                                 "(CPU: int8 weight matmuls, ACC score and selection float); e.g. fp32,int8")
        parser.add_argument("--int8-per-tensor", action="store_true",
                            help="int8: one weight scale per matrix instead of per output channel")
        parser.add_argument("--int8-float-nodes", default="layer0/",
                            help="int8: comma-separated layer labels whose matmuls stay float (default layer0/, the "
                                 "measured best; '' quantises every layer; e.g. ffn_out or layer0/,layer1/query)")
        parser.add_argument("--sign-key", type=Path, default=None, metavar="KEY.pem",
                            help="sign the bundle's manifest with this PEM elliptic-curve private key "
                                 "(manifest.json.sig; verify with Runtime.load(..., verify_key=PUB.pem))")
        parser.add_argument("--attention", choices=ATTENTION_FORMS, default="eager",
                            help="graph form: eager (portable ONNX, TensorRT) or fused (ONNX Runtime MultiHeadAttention + "
                                 "ai.acc::AccScore: no n×n tensor; fast with acc-build-ops)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ExportOptions:
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        values["speedups"] = tuple(parse_speedups(args.speedups))
        values["bench_batches"] = _ints(args.bench_batches, "--bench-batches")
        values["bench_seqs"] = _ints(args.bench_seqs, "--bench-seqs")
        values["engine_precision"] = parse_precisions(args.engine_precision)
        values["engine_batch"] = parse_range(args.engine_batch, "--engine-batch")
        values["engine_seq"] = parse_range(args.engine_seq, "--engine-seq")
        values["triton_options"] = TritonOptions.from_args(args)
        values["from_bundle"] = getattr(args, "bundle", None)
        values["progress"] = not args.quiet
        if values["from_bundle"] is not None and values.get("triton") is None:
            raise ExportError(f"acc-export {values['from_bundle']} converts an existing bundle for Triton; "
                              "pass --triton DIR too")
        if args.device not in ("auto", "cpu") and args.engine is None:
            raise ExportError(f"acc-export validates and times on ONNX Runtime CPU, not --device {args.device}; "
                              "drop --device, then run acc-calibrate BUNDLE --device cuda for GPU latency")
        values["precision"] = parse_graph_precisions(args.precision)
        values["int8"] = Int8Options(per_channel=not args.int8_per_tensor,
                                     float_nodes=tuple(p.strip() for p in args.int8_float_nodes.split(",") if p.strip()))
        return cls(**values)


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise ExportError(f"{flag} takes comma-separated integers, got {text!r}; write e.g. 1,8,32") from None
    if not values or min(values) < 1:
        raise ExportError(f"{flag} takes positive integers, got {text!r}; write e.g. 1,8,32")
    return values
