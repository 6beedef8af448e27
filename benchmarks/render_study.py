"""Re-render the Markdown and PNG of an acc-study report (the JSON is the source of truth; only read here).

    python benchmarks/render_study.py benchmarks/results/accuracy-sst2_20250101T120000Z.json [more.json ...]

To build a report from the parts the device calls wrote, use ``acc-study render OUT_A/study-*.json OUT_B/study-*.json``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from render import rerender_main  # benchmarks/render.py: the shared re-render command line


def main(argv: Sequence[str] | None = None) -> int:
    from acc.modeling.baselines.study_report import render_files

    return rerender_main(
        render_files,
        "Regenerate <stem>.md and <stem>.png from acc-study's <stem>.json.",
        "reports",
        "accuracy-*.json report(s) written by acc-study render",
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
