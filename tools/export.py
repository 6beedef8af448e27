"""``acc-export``: one ONNX graph per speedup profile (plus the adjustable graph), validated, timed and bundled."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from acc.profiles import AccError

from . import cli
from ._console import table_console
from .export_extra import needs_export_extra

EXAMPLES = (
    "acc-export --model bert-sst2 --speedups 1.5,3,4.8",
    "acc-export --model bert-sst2 --max-examples 64 --no-bench -o /tmp/bert-sst2 --overwrite",
    "acc-export --model gpt2-mini --speedups 1.5,3,3.72 --reference-length 512",
    "acc-export bundles/bert-sst2 --triton triton_repo     # Triton repository from an existing bundle",
)
RENAMED = {"--from-bundle": "", "--no-progress": "--quiet"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from acc.exporter.options import ExportOptions

    ExportOptions.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        with _sigterm_as_interrupt():
            return _export(args)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the pipeline removed its staging directory already
        signal_name = "SIGTERM" if isinstance(exc, _Terminated) else "SIGINT"
        print(f"error: export interrupted ({signal_name}); no bundle was written and the staging directory was "
              "removed; run acc-export again", file=sys.stderr)  # fmt: skip
        return 143 if isinstance(exc, _Terminated) else 130


def _export(args: argparse.Namespace) -> int:
    from acc.exporter.families import (
        render_summary,  # the summary of whichever family was exported
    )
    from acc.exporter.options import ExportOptions
    from acc.exporter.pipeline import main_export
    from acc.exporter.triton import write_triton_repository

    try:
        options = ExportOptions.from_args(args)
        say = cli.progress_printer(quiet=not options.progress)
        if options.from_bundle is not None:  # acc-export BUNDLE --triton DIR: convert, export nothing
            repository = write_triton_repository(options.from_bundle, options.triton, options.triton_options,
                                                 overwrite=options.overwrite, progress=say)  # fmt: skip
            print(f"Triton model repository {repository.path}: " + ", ".join(m.name for m in repository.models))
            return 0
        result = main_export(options, progress=say)
    except AccError as exc:
        return cli.fail(exc)
    table_console(160).print(render_summary(result))
    print(f"bundle {result.bundle} digest {bundle_digest_of(result.bundle)}")
    if result.triton is not None:
        print(f"Triton model repository {result.triton} (see its README.md)")
    return 0


def bundle_digest_of(bundle: Path) -> str:
    """The identity ``Runtime.load(path, digest=...)`` and ``acc-serve --digest`` check (sha256 of the manifest)."""
    from acc.runtime.integrity import read_manifest_bytes
    from acc.runtime.manifest import bundle_digest

    return bundle_digest(read_manifest_bytes(Path(bundle)))


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the export is so the same cleanup as Ctrl-C runs (the default action just dies)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = cli.make_parser(
        "acc-export",
        "Export an ACC model to a bundle: one ONNX graph per speedup profile plus the adjustable graph, validated "
        "against PyTorch, timed and hashed. With --triton DIR also write a Triton Inference Server model repository "
        "(or, given an existing BUNDLE, only that).",
        EXAMPLES,
    )
    add_arguments(parser)
    return parser


@needs_export_extra("acc-export")
def main(argv: Sequence[str] | None = None) -> int:
    return run(cli.parse_args(build_parser(), argv, RENAMED))


if __name__ == "__main__":
    sys.exit(main())
