"""exporter/bench/render.py and benchmarks/latency/render.py: Markdown and PNG rendered from the results JSON alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from acc.exporter.bench import BenchReport, render_files, render_markdown

ROOT = Path(__file__).resolve().parents[3]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_run_wrote_json_md_png(tiny_bench) -> None:  # noqa: ANN001
    files = tiny_bench.files
    assert [p.suffix for p in files.as_list()] == [".json", ".md", ".png"]
    assert len({p.with_suffix("") for p in files.as_list()}) == 1
    assert files.png.read_bytes().startswith(PNG_MAGIC)


def test_rerender_from_json_only(tiny_bench, tmp_path: Path) -> None:  # noqa: ANN001
    json_copy = tmp_path / tiny_bench.files.json.name
    json_copy.write_bytes(tiny_bench.files.json.read_bytes())
    before = json_copy.read_bytes()
    files = render_files(json_copy)
    assert json_copy.read_bytes() == before  # the source of truth is only read
    assert files.png.read_bytes().startswith(PNG_MAGIC) and files.png.stat().st_size > 5000
    text = files.markdown.read_text()
    assert text == tiny_bench.files.markdown.read_text()  # same JSON, same Markdown
    for needle in (
        "| candidate | b1_s16 |",
        "| baseline | 1.00x |",
        "adjustable@s1.5",
        "Optimum unavailable",
        "| Attention | 2 |",
        "## All rows",
        files.png.name,
    ):
        assert needle in text, needle


def test_latency_only_runs_are_labelled(tiny_bench) -> None:  # noqa: ANN001
    report = tiny_bench.report
    random = BenchReport(report.name, report.created_utc,
                         {**report.metadata, "latency_only": True, "weights": "random-initialised weights (seed 0)"},
                         report.rows)  # fmt: skip
    assert "**Latency only.**" in render_markdown(random)
    assert "Latency only" not in render_markdown(report)


def test_renderer_script(tiny_bench, tmp_path: Path) -> None:  # noqa: ANN001
    json_copy = tmp_path / tiny_bench.files.json.name
    json_copy.write_bytes(tiny_bench.files.json.read_bytes())
    script = [sys.executable, str(ROOT / "benchmarks" / "latency" / "render.py")]
    done = subprocess.run(script + [str(json_copy)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json_copy.with_suffix(".md").is_file() and json_copy.with_suffix(".png").is_file()

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "acc-bench", "schema_version": 99, "rows": [], "metadata": {}}))
    done = subprocess.run(script + [str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert [line for line in done.stderr.splitlines() if line.startswith("error: ")] == [done.stderr.strip()]
    assert "schema_version 99" in done.stderr
