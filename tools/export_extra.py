"""Console scripts that need the ``[export]`` extra (torch, transformers) say so in one line when it is missing.

``pip install acc-deploy`` installs the runtime and server only; without this check ``acc-export`` there would end in
a ModuleNotFoundError traceback from wherever torch is first imported.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable, Sequence

EXPORT_INSTALL = 'pip install "acc-deploy[export]"'
EXPORT_MODULES = ("torch", "transformers")

Main = Callable[[Sequence[str] | None], int]


def missing_export_modules() -> list[str]:
    """The export extra's modules that cannot be imported here (found, not imported: ``--help`` stays fast)."""
    return [name for name in EXPORT_MODULES if importlib.util.find_spec(name) is None]


def needs_export_extra(command: str) -> Callable[[Main], Main]:
    """Decorate a console script's ``main``: exit 2 with ``error: <command> needs ...; pip install ...`` first."""

    def decorate(main: Main) -> Main:
        @functools.wraps(main)
        def checked(argv: Sequence[str] | None = None) -> int:
            missing = missing_export_modules()
            if missing:
                print(f"error: {command} needs {' and '.join(missing)}, which this install lacks; {EXPORT_INSTALL}",
                      file=sys.stderr)  # fmt: skip
                return 2
            return main(argv)

        return checked

    return decorate
