"""acc-export BUNDLE --triton DIR: convert an existing bundle, in process; errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from acc.exporter.triton import check_repository
from acc.tools import export as export_tool


def test_bundle_argument_writes_a_checked_repository_and_exports_nothing(
    tiny_export_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "triton"
    argv = [str(tiny_export_bundle), "--triton", str(target), "--triton-kind", "gpu",
            "--triton-max-batch", "4", "--triton-max-queue-delay-us", "100", "--quiet"]  # fmt: skip
    assert export_tool.main(argv) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"Triton model repository {target}: tiny-bert_dense, tiny-bert_s1_5, tiny-bert_adjustable"
    assert check_repository(target) == ["tiny-bert_adjustable", "tiny-bert_dense", "tiny-bert_s1_5",
                                        "tiny-bert_text_adjustable", "tiny-bert_text_dense", "tiny-bert_text_s1_5",
                                        "tiny-bert_tokenizer"]  # fmt: skip
    config = (target / "tiny-bert_dense" / "config.pbtxt").read_text()
    assert "kind: KIND_GPU" in config and "max_batch_size: 4" in config
    assert "max_queue_delay_microseconds: 100" in config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["triton"]  # no bundle was exported

    assert export_tool.main(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert export_tool.main([*argv, "--overwrite"]) == 0


@pytest.mark.parametrize(("argv", "needle"), [
    (["b"], "acc-export b converts an existing bundle for Triton; pass --triton DIR too"),
    (["no-such-bundle", "--triton", "t"], "no-such-bundle"),
    (["b", "--triton", "t", "--triton-count", "0"], "--triton-count must be >= 1"),
    (["--from-bundle", "b"], "acc-export b converts an existing bundle for Triton"),  # old spelling still works
])  # fmt: skip
def test_bad_triton_arguments_exit_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert export_tool.main([*argv, "--quiet"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and needle in errors[0], errors
    assert list(tmp_path.iterdir()) == []
