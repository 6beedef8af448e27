"""benchmarks/holdout/predict.py: one id<TAB>label file per profile, labels equal to the runtime's, clear errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "holdout" / "predict.py"
SENTENCES = ["a gorgeous , witty , seductive movie .", "flat and boring .", "it is not bad , but not good either ."]


def _script():  # noqa: ANN202 - the module object
    spec = importlib.util.spec_from_file_location("holdout_predict", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _holdout(tmp_path: Path) -> Path:
    path = tmp_path / "holdout.tsv"
    path.write_text("id\tsentence\n" + "".join(f"{7 + i}\t{text}\n" for i, text in enumerate(SENTENCES)))
    return path


def test_bundle_predictions_per_profile_match_the_runtime(tiny_export_bundle: Path, tmp_path: Path) -> None:
    from acc.runtime import Runtime

    out = tmp_path / "out"
    assert _script().main([str(_holdout(tmp_path)), "--bundle", str(tiny_export_bundle), "--name", "tiny",
                           "--out", str(out)]) == 0  # fmt: skip
    runtime = Runtime.load(tiny_export_bundle)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"tiny_{n}.tsv" for n in runtime.manifest.profile_names)
    for name in runtime.manifest.profile_names:
        lines = (out / f"tiny_{name}.tsv").read_text().splitlines()
        assert lines[0] == "id\tlabel" and [line.split("\t")[0] for line in lines[1:]] == ["7", "8", "9"]
        expected = runtime.predict(SENTENCES, speedup=runtime.manifest.profile(name).target_speedup).label_ids
        assert [int(line.split("\t")[1]) for line in lines[1:]] == [int(i) for i in expected]


def test_model_predictions_write_dense_and_each_speedup(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _script().main([str(_holdout(tmp_path)), "--model", str(tiny_checkpoint), "--speedups", "1.5",
                           "--out", str(out)]) == 0  # fmt: skip
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{tiny_checkpoint.name}_dense.tsv", f"{tiny_checkpoint.name}_s1.5.tsv"]
    labels = [line.split("\t")[1] for line in (out / names[0]).read_text().splitlines()[1:]]
    assert len(labels) == 3 and set(labels) <= {"0", "1"}


def test_wrong_header_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("label\tsentence\n1\tgood\n")
    with pytest.raises(SystemExit, match="expected the header 'id<TAB>sentence'"):
        _script().read_holdout(path)
