"""``acc-aoti``: AOTInductor packages (``.pt2``) of a bundle's profiles, for libtorch deployments (docs/aoti.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

from . import cli
from ._console import table_console
from .export_extra import needs_export_extra

EXAMPLES = (
    "acc-aoti bundles/bert-sst2 --device cpu",
    "acc-aoti bundles/bert-sst2 --device cuda --profiles s3,s4.8 --seq-buckets 128,512",
    "acc-aoti bundles/bert-sst2 --device cpu -o aoti-cpu/     # leave the bundle untouched",
)
RENAMED = {"--bundle": "", "--out": "--output", "--no-progress": "--quiet"}


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_bundle(parser)
    cli.add_device(parser, "device the packages run on (they run nowhere else); auto: cuda when torch sees a GPU")
    cli.add_output(parser, "write DIR/aoti/*.pt2 + DIR/aoti.json and leave the bundle as it is (default: add aoti/ "
                           "to the bundle, atomically)", metavar="DIR")  # fmt: skip
    parser.add_argument("--profiles", default=None, help="comma list of profile names (default: every profile)")
    parser.add_argument(
        "--seq-buckets", type=_ints, default=(128,), help="sequence lengths, one package per profile and length"
    )
    parser.add_argument("--batch-range", type=_ints, default=(1, 64), help="min,max batch size")
    parser.add_argument(
        "--dtype",
        choices=("fp32", "fp16", "bf16"),
        default=None,
        help="weights and activations (default fp32 on cpu, fp16 on cuda)",
    )
    parser.add_argument(
        "--kernels",
        choices=("auto", "triton", "torch"),
        default="auto",
        help="ACC score/selection on CUDA: Triton kernels or PyTorch references",
    )
    parser.add_argument(
        "--model", default=None, help="checkpoint the bundle was exported from (default: the manifest's model.source)"
    )
    parser.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="keep packages whose validation against the eager model fails (recorded in the manifest)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output directory")
    cli.add_quiet(parser)


def torch_device(device: str) -> str:
    """``auto`` → cuda when torch sees a GPU, else cpu (the packages are compiled for one of the two)."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from acc.exporter.aoti import aoti_from_bundle

    if len(args.batch_range) != 2:
        print(f"error: --batch-range takes min,max, got {args.batch_range}", file=sys.stderr)
        return 2
    try:
        device = torch_device(cli.select_gpu(args.device))
        target, records = aoti_from_bundle(
            args.bundle, device, out_dir=args.output, model_source=args.model,
            profiles=args.profiles.split(",") if args.profiles else None, overwrite=args.overwrite,
            say=cli.progress_printer(args.quiet),
            seq_buckets=args.seq_buckets, batch_range=tuple(args.batch_range), dtype=args.dtype, kernels=args.kernels,
            allow_mismatch=args.allow_mismatch, progress=not args.quiet,
        )  # fmt: skip
    except (AccError, argparse.ArgumentTypeError) as exc:
        return cli.fail(exc)
    table = Table(title=f"AOTInductor packages ({device})")
    for column in ("package", "profile", "length", "dtype", "kernels", "label agreement", "max |Δ|", "compile s"):
        table.add_column(column)
    for r in records:
        check = r["validation"]
        table.add_row(r["path"], r["profile"], str(r["seq_buckets"][0]), r["dtype"], r["kernels"],
                      f"{check['label_agreement']:.4f}", f"{check['max_abs_diff']:.2g}", f"{r['compile_s']:.0f}")  # fmt: skip
    table_console(120).print(table)
    for r in records:
        if r.get("kernel_note"):
            print(f"note: {r['path']}: {r['kernel_note']}", file=sys.stderr)
    for r in records:
        print(f"wrote {target / r['path']}")  # plain print: paths are never wrapped, so scripts can pick them up
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "acc-aoti",
        "Compile a bundle's profiles into AOTInductor packages (.pt2, one per profile and sequence length, dynamic "
        "batch) for libtorch / C++ deployment; each is checked against the eager model.",
        EXAMPLES,
    )
    add_arguments(parser)
    return parser


@needs_export_extra("acc-aoti")
def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv, RENAMED))


if __name__ == "__main__":
    sys.exit(main())
