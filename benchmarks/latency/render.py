"""Re-render the Markdown and PNG of an acc-bench results JSON (the JSON is the source of truth; only read here).

python benchmarks/latency/render.py benchmarks/results/cpu-bert-sst2_20250101T120000Z.json [more.json ...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from acc.profiles import AccError


def rerender_main(
    render_files: Callable[[str], Any], description: str, name: str, help_text: str, argv: Sequence[str] | None
) -> int:
    """The command line every re-render script shares: render each JSON named, one ``wrote`` line per file;
    bad input is one ``error:`` line on stderr and exit code 2."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(name, nargs="+", help=help_text)
    args = parser.parse_args(argv)
    try:
        for path in getattr(args, name):
            files = render_files(path)
            print(f"wrote {files.markdown} and {files.png}")
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from acc.exporter.bench import render_files

    return rerender_main(
        render_files,
        "Regenerate <stem>.md and <stem>.png from acc-bench <stem>.json.",
        "results",
        "results JSON file(s) written by acc-bench",
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
