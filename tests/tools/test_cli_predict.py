"""acc-predict: .txt/.tsv/.jsonl/stdin in, JSONL/TSV out, equal to Runtime.predict of the same batches; errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from acc.runtime import Runtime
from acc.runtime.batch_predict import Summary
from acc.tools.predict import main

TEXTS = ["a gripping, beautifully shot film", "dull.", "the plot never quite comes together , but the cast is great",
         "an utterly charming and hilarious film", "flat and boring ."]  # fmt: skip
SCRIPT = Path(sys.executable).with_name("acc-predict")


@pytest.fixture(scope="module")
def runtime(tiny_export_bundle: Path) -> Runtime:
    return Runtime.load(tiny_export_bundle, device="cpu", threads=1)


def _expected(runtime: Runtime, texts: list[str], batch: int, **options: float) -> list[tuple[str, float, str]]:
    out = []
    for start in range(0, len(texts), batch):
        prediction = runtime.predict(texts[start : start + batch], **options)
        out += [(label, float(p[i]), prediction.profile)
                for label, i, p in zip(prediction.labels, prediction.label_ids, prediction.probabilities)]  # fmt: skip
    return out


def test_txt_to_jsonl_equals_runtime_predict(tiny_export_bundle: Path, runtime: Runtime, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    source = tmp_path / "texts.txt"
    source.write_text(TEXTS[0] + "\n\n" + "\n".join(TEXTS[1:]) + "\n")  # a blank line 2 is skipped
    out = tmp_path / "out.jsonl"
    assert main([str(tiny_export_bundle), str(source), "-o", str(out), "--batch-size", "2", "--speedup", "1.5",
                 "--device", "cpu", "--threads", "1"]) == 0  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 3, 4, 5, 6]
    expected = _expected(runtime, TEXTS, 2, speedup=1.5)
    assert [(r["label"], r["profile"]) for r in rows] == [(e[0], e[2]) for e in expected]
    np.testing.assert_allclose([r["score"] for r in rows], [e[1] for e in expected], atol=1e-6)
    assert all(r["profile"] == "s1.5" and 0.5 <= r["score"] <= 1 for r in rows)
    err = capsys.readouterr().err
    assert "acc-predict: 5 rows in" in err and "rows/s); profiles: s1.5 5 (100.0%)" in err and "speedup=1.5" in err


def test_tsv_in_tsv_out_with_the_sst2_header(tiny_export_bundle: Path, runtime: Runtime, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    source = tmp_path / "dev.tsv"
    source.write_text("label\tcontent\n" + "".join(f"1\t{t}\n" for t in TEXTS))  # the shipped SST-2 layout
    out = tmp_path / "out.tsv"
    assert main([str(tiny_export_bundle), str(source), "-o", str(out), "--quiet", "--device", "cpu"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "line\tlabel\tscore\tprofile"
    cells = [line.split("\t") for line in lines[1:]]
    assert [int(c[0]) for c in cells] == [2, 3, 4, 5, 6]
    expected = _expected(runtime, TEXTS, 32)
    assert [(c[1], c[3]) for c in cells] == [(e[0], e[2]) for e in expected]
    assert capsys.readouterr().err == ""  # --quiet: no bar, no summary


def test_jsonl_strings_and_objects_with_min_accuracy(
    tiny_export_bundle: Path, runtime: Runtime, tmp_path: Path
) -> None:
    source = tmp_path / "texts.jsonl"
    source.write_text(json.dumps({"review": TEXTS[0]}) + "\n" + json.dumps({"review": TEXTS[1], "id": 7}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main([str(tiny_export_bundle), str(source), "--text-column", "review", "-o", str(out), "--quiet",
                 "--min-accuracy", "0", "--device", "cpu"]) == 0  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    fastest = runtime.predict(TEXTS[:2], min_accuracy=0.0).profile
    assert [r["profile"] for r in rows] == [fastest, fastest] and fastest != "dense"


@pytest.mark.parametrize(("content", "name", "extra", "needle"), [
    ("x\n", "texts.csv", [], "cannot tell the format of .*texts.csv from its extension; name it .txt, .tsv or .jsonl"),
    ("review\tlabel\nfine\t1\n", "t.tsv", [], (r"header \['review', 'label'\] has no column 'sentence' or 'text' or 'content'; "
                                               "pass --text-column NAME")),
    ('{"text": "ok"}\n{oops\n', "t.jsonl", [], "t.jsonl line 2 is not JSON"),
    ('{"txt": "ok"}\n', "t.jsonl", [], 't.jsonl line 1 has no string "text"'),
    ("fine\n", "t.txt", ["--speedup", "0.5"], "speedup must be a number >= 1"),
    ("fine\n", "t.txt", ["--batch-size", "0"], "--batch-size must be >= 1"),
])  # fmt: skip
def test_bad_input_is_one_line_naming_the_fix(tiny_export_bundle: Path, tmp_path: Path, content: str, name: str,
                                              extra: list[str], needle: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    source = tmp_path / name
    source.write_text(content)
    assert main([str(tiny_export_bundle), str(source), "--quiet", "--device", "cpu", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert __import__("re").search(needle, err), err


def test_missing_file_fails_before_loading_the_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "no-bundle"), str(tmp_path / "missing.txt"), "--quiet"]) == 2
    assert "cannot read" in capsys.readouterr().err and "missing.txt" in capsys.readouterr().err + "missing.txt"


def test_console_script_reads_stdin(tiny_export_bundle: Path, runtime: Runtime) -> None:
    assert SCRIPT.exists(), f"console script acc-predict is not installed next to {sys.executable}; pip install -e ."
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([str(SCRIPT), str(tiny_export_bundle), "--device", "cpu", "--threads", "1",
                           "--output-format", "tsv"], input="\n".join(TEXTS[:3]), capture_output=True, text=True,
                          env=env, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "line\tlabel\tscore\tprofile" and len(lines) == 4
    assert [line.split("\t")[1] for line in lines[1:]] == runtime.predict(TEXTS[:3]).labels
    assert "acc-predict: 3 rows in" in done.stderr and "profiles: dense 3 (100.0%)" in done.stderr


def test_summary_line_reports_rate_and_mix() -> None:
    summary = Summary(rows=4, seconds=2.0)
    summary.profiles.update({"s3": 3, "dense": 1})
    assert summary.line() == "4 rows in 2.00 s (2.0 rows/s); profiles: s3 3 (75.0%), dense 1 (25.0%)"
