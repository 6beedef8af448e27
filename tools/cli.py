"""The argparse pieces every ``acc-*`` command shares, so the same thing is spelled the same way everywhere.

One help format (defaults shown, an Examples section), ``--version``, the bundle as a positional ``BUNDLE``, one
output flag ``-o/--output``, one progress switch ``--quiet``, one ``--device {auto,cpu,cuda,cuda:N}``, log lines
without a source location, and error lines whose fix is spelled as a command-line flag. Old spellings keep working
for a while through ``parse_args(..., renamed=...)``, which prints one deprecation line. The library's option
classes (``ExportOptions``, ``BenchOptions``, ...) declare their flags with these helpers too. Nothing heavy is
imported here: ``--help`` must stay fast.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

DEVICE_METAVAR = "{auto,cpu,cuda,cuda:N}"
EXAMPLES_HEADING = "examples:"
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
_NO_DEFAULT = (None, False, True, argparse.SUPPRESS)


def package_version() -> str:
    """The installed acc-deploy version (what ``--version`` prints)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("acc-deploy")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


class HelpFormatter(argparse.HelpFormatter):
    """Help lines end with ``(default: X)`` unless they already name their default; the Examples keep their lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLES_HEADING):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or any(default is unset for unset in _NO_DEFAULT) or action.nargs == 0:
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        return f"{text} (default: {show_default(default).replace('%', '%%')})"


def show_default(value: Any) -> str:
    """A default as a user would type it: ``5`` for 5.0, tuples comma-joined (``1,8,32``), the rest as ``str``."""
    if isinstance(value, (tuple, list)):
        return ",".join(show_default(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def make_parser(prog: str, description: str, examples: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of one command: shared help format, ``--version`` and an Examples epilog (one command a line)."""
    parser = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter,
                                     epilog=examples_epilog(examples))  # fmt: skip
    add_version(parser)
    return parser


def add_subcommand(commands: Any, name: str, description: str, examples: Sequence[str]) -> argparse.ArgumentParser:
    """One subcommand of ``commands`` (``parser.add_subparsers()``) with the same help format and Examples."""
    return commands.add_parser(name, help=description, description=description, formatter_class=HelpFormatter,
                               epilog=examples_epilog(examples))  # fmt: skip


def examples_epilog(examples: Sequence[str]) -> str:
    if not examples:
        raise ValueError("every command shows at least one example")
    return EXAMPLES_HEADING + "\n" + "\n".join(f"  {line}" for line in examples)


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")


def add_bundle(parser: argparse.ArgumentParser, help: str = "bundle directory written by acc-export",
               optional: bool = False) -> None:  # fmt: skip
    """``BUNDLE``, the positional bundle directory (``optional``: may be left out, then None)."""
    if optional:
        parser.add_argument("bundle", metavar="BUNDLE", type=Path, nargs="?", default=None, help=help)
    else:
        parser.add_argument("bundle", metavar="BUNDLE", type=Path, help=help)


def add_output(parser: argparse.ArgumentParser, help: str, default: Any = None, required: bool = False,
               dest: str = "output", metavar: str = "PATH") -> None:  # fmt: skip
    """``-o/--output``: the one output flag (a file or a directory, as ``help`` says)."""
    parser.add_argument("-o", "--output", dest=dest, type=Path, default=default, required=required,
                        metavar=metavar, help=help)  # fmt: skip


def add_quiet(parser: argparse.ArgumentParser, help: str = "no progress lines or bars") -> None:
    """``-q/--quiet``: the one progress switch (``args.quiet``)."""
    parser.add_argument("-q", "--quiet", action="store_true", help=help)


def add_device(parser: argparse.ArgumentParser, help: str, default: str = "auto") -> None:
    """``--device {auto,cpu,cuda,cuda:N}``: where the command runs its model."""
    parser.add_argument("--device", type=device_arg, default=default, metavar=DEVICE_METAVAR, help=help)


def add_backend(parser: argparse.ArgumentParser) -> None:
    """``--backend {auto,ort,trt,aoti}``: what runs the bundle's graphs (``acc.runtime.backends``)."""
    from acc.runtime.backends import BACKENDS

    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="auto/ort: the ONNX graphs on ONNX Runtime; trt: the bundle's TensorRT engines for this "
                             "GPU; aoti: its AOTInductor packages (acc-aoti, needs torch)")  # fmt: skip


def device_arg(text: str) -> str:
    """argparse type of ``--device``: the spelling is checked here, whether the device exists by the command."""
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"invalid device {text!r}; pass auto, cpu, cuda or cuda:N (e.g. cuda:1)")
    return text


def select_gpu(device: str) -> str:
    """``--device`` for runtimes that take auto/cpu/cuda (ONNX Runtime, AOTInductor): ``cuda:N`` becomes ``cuda``.

    GPU N is chosen through ``CUDA_VISIBLE_DEVICES`` (the N-th of those already visible) before any session or
    CUDA context exists, so everything this process runs lands on it.
    """
    if not device.startswith("cuda:"):
        return device
    index = int(device.split(":", 1)[1])
    visible = [part.strip() for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    if visible and index >= len(visible):
        raise argparse.ArgumentTypeError(
            f"--device {device}: only {len(visible)} GPU(s) visible (CUDA_VISIBLE_DEVICES={','.join(visible)}); "
            f"pass --device cuda:0 to cuda:{len(visible) - 1}"
        )
    os.environ["CUDA_VISIBLE_DEVICES"] = visible[index] if visible else str(index)
    return "cuda"


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
               renamed: Mapping[str, str] | None = None) -> argparse.Namespace:  # fmt: skip
    """``parser.parse_args`` after old flag spellings are rewritten (one ``warning:`` line each).

    ``renamed`` maps an old flag to its new spelling; an empty new spelling means "now positional" (the flag is
    dropped and its value stays, e.g. ``--bundle B`` → ``B``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if renamed:
        args = _rewrite(args, renamed)
    return parser.parse_args(args)


def _rewrite(argv: list[str], renamed: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for arg in argv:
        flag, equals, value = arg.partition("=")
        if flag not in renamed or arg == "--":
            out.append(arg)
            continue
        new = renamed[flag]
        shown = new or "a positional argument"
        print(f"warning: {flag} is deprecated and will be removed; use {shown}", file=sys.stderr)
        if new:
            out.append(new + equals + value if equals else new)
        elif equals:
            out.append(value)
    return out


def progress_printer(quiet: bool) -> Callable[[str], None] | None:
    """Progress lines on stderr with the time but no source location (None with ``--quiet``)."""
    if quiet:
        return None
    from rich.console import Console

    console = Console(stderr=True, log_path=False)
    return lambda message: console.log(message)


def cli_spelling(message: str) -> str:
    """``message`` with its Python-spelled fixes rewritten as flags (``best_effort=True`` → ``--best-effort``)."""
    from acc.runtime.hints import as_flags

    return as_flags(message.replace("load it with acc.runtime.Runtime", "serve it with acc-serve BUNDLE"))


def fail(exc: BaseException, code: int = 2) -> int:
    """Print ``error: <one line>`` (fixes spelled as flags) on stderr and return the exit code."""
    print(f"error: {cli_spelling(str(exc))}", file=sys.stderr)
    return code
