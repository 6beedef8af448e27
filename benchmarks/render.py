"""Re-render the Markdown and PNG of an acc-bench results JSON (the JSON is the source of truth; only read here).

    python benchmarks/render.py benchmarks/results/cpu-bert-sst2_20250101T120000Z.json [more.json ...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acc.profiles import AccError
from acc.runtime.bench import render_files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate <stem>.md and <stem>.png from acc-bench <stem>.json.")
    parser.add_argument("results", nargs="+", help="results JSON file(s) written by acc-bench")
    args = parser.parse_args(argv)
    try:
        for path in args.results:
            files = render_files(path)
            print(f"wrote {files.markdown} and {files.png}")
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
