"""``acc-aoti``: AOTInductor packages (``.pt2``) of a bundle's profiles, for libtorch deployments (docs/aoti.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError

from ._console import table_console


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="bundle directory written by acc-export")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="device the packages run on (they run nowhere else; default cpu)")
    parser.add_argument("--out", default=None,
                        help="write DIR/aoti/*.pt2 + DIR/aoti.json and leave the bundle as it is (default: add "
                             "aoti/ to the bundle, atomically)")  # fmt: skip
    parser.add_argument("--profiles", default=None, help="comma list of profile names (default: every profile)")
    parser.add_argument("--seq-buckets", type=_ints, default=(128,),
                        help="sequence lengths, one package per profile and length (default 128)")
    parser.add_argument("--batch-range", type=_ints, default=(1, 64), help="min,max batch size (default 1,64)")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default=None,
                        help="weights and activations (default fp32 on cpu, fp16 on cuda)")
    parser.add_argument("--kernels", choices=("auto", "triton", "torch"), default="auto",
                        help="ACC score/selection on CUDA: Triton kernels or PyTorch references (default auto)")
    parser.add_argument("--model", default=None,
                        help="checkpoint the bundle was exported from (default: the manifest's model.source)")
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="keep packages whose validation against the eager model fails (recorded in the manifest)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out directory")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from acc.exporter.aoti import aoti_from_bundle

    console = Console(stderr=True)
    if len(args.batch_range) != 2:
        print(f"error: --batch-range takes min,max, got {args.batch_range}", file=sys.stderr)
        return 2
    try:
        target, records = aoti_from_bundle(
            args.bundle, args.device, out_dir=args.out, model_source=args.model,
            profiles=args.profiles.split(",") if args.profiles else None, overwrite=args.overwrite,
            say=(lambda message: console.log(message)) if args.progress else None,
            seq_buckets=args.seq_buckets, batch_range=tuple(args.batch_range), dtype=args.dtype, kernels=args.kernels,
            allow_mismatch=args.allow_mismatch, progress=args.progress,
        )  # fmt: skip
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = Table(title=f"AOTInductor packages ({args.device})")
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="acc-aoti",
        description="Compile a bundle's profiles into AOTInductor packages (.pt2, one per profile and sequence "
        "length, dynamic batch) for libtorch / C++ deployment; each is checked against the eager model.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
