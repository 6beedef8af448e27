"""The study recipe (benchmarks/study/acc_study) is not installed with acc-deploy: its tests import it from the checkout."""

from __future__ import annotations

import sys
from pathlib import Path

STUDY = Path(__file__).resolve().parents[2] / "benchmarks" / "study"
if str(STUDY) not in sys.path:
    sys.path.insert(0, str(STUDY))
