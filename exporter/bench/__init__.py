"""acc-bench: time a bundle's graphs against the optimized dense baseline in one process; write JSON, MD and PNG.

Importing this package imports neither torch nor onnxruntime: the baseline export, the sessions and matplotlib load
inside the functions that need them.
"""

from __future__ import annotations

from acc.runtime.timing_options import BenchOptions

from .benchmark import BenchResult, benchmark_bundle, results_name, run_benchmark, write_results
from .console import render_table
from .measure import Candidate, SessionSettings, bundle_candidates, measure_grid
from .random_model import RANDOM_BERT_BASE_NAME, random_bert_checkpoint
from .records import (
    ADJUSTABLE,
    BASELINE,
    BUNDLE_DENSE,
    KINDS,
    PROFILE,
    SCHEMA_VERSION,
    BenchReport,
    BenchRow,
    ResultFiles,
    results_stem,
    write_json_new,
)
from .render import render_files, render_markdown, render_png

__all__ = [
    "ADJUSTABLE",
    "BASELINE",
    "BUNDLE_DENSE",
    "KINDS",
    "PROFILE",
    "RANDOM_BERT_BASE_NAME",
    "SCHEMA_VERSION",
    "BenchOptions",
    "BenchReport",
    "BenchResult",
    "BenchRow",
    "Candidate",
    "ResultFiles",
    "SessionSettings",
    "benchmark_bundle",
    "bundle_candidates",
    "measure_grid",
    "random_bert_checkpoint",
    "render_files",
    "render_markdown",
    "render_png",
    "render_table",
    "results_name",
    "results_stem",
    "run_benchmark",
    "write_json_new",
    "write_results",
]
