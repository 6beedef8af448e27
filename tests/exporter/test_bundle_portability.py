"""A bundle is one truth about itself and means the same on any machine (issue #16, defects 1 and 2).

Defect 1: ``tokenizer/tokenizer.json`` truncated at 128 while the manifest, the runtime and ``acc_triton.json``
said 512. Defect 2: ``model.source`` was an absolute path into the exporting machine's clone, used by acc-bench and
acc-aoti as their default checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from acc.modeling.checkpoint import checkpoint_digest, model_source_id, source_checkpoint
from acc.profiles import ModelError
from acc.runtime import Runtime


def _limits(bundle: Path) -> tuple[int, int, int]:
    """(manifest max_length, tokenizer.json truncation, tokenizer_config model_max_length)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    fast = json.loads((bundle / "tokenizer" / "tokenizer.json").read_text())
    config = json.loads((bundle / "tokenizer" / "tokenizer_config.json").read_text())
    assert fast["padding"] is None
    return manifest["model"]["max_length"], fast["truncation"]["max_length"], config["model_max_length"]


def test_every_artefact_states_the_same_max_length(tiny_export_bundle: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    from acc.exporter.triton import write_triton_repository

    assert _limits(tiny_export_bundle) == (512, 512, 512)
    repository = write_triton_repository(tiny_export_bundle, tmp_path / "triton").path
    assert json.loads((repository / "acc_triton.json").read_text())["max_length"] == 512
    # A Triton client encoding a 300-token text with the shipped file gets what acc-serve runs on: all 300 tokens.
    text = " ".join(["word"] * 298)
    client_ids = Tokenizer.from_file(str(repository / "tokenizer.json")).encode(text).ids
    served = Runtime.load(tiny_export_bundle).encoder.encode([text])
    assert len(client_ids) == 300 == int(served.attention_mask.sum())


def test_max_length_flag_is_written_everywhere(tiny_checkpoint: Path, sst2_dir: Path, tmp_path: Path) -> None:
    from acc.exporter import ExportOptions, main_export

    options = ExportOptions(model=str(tiny_checkpoint), speedups=(1.5,), output=tmp_path / "b", data_dir=sst2_dir,
                            max_examples=4, max_length=64, validate_grid="fast", bench=False, progress=False,
                            adjustable=False)  # fmt: skip
    bundle = main_export(options).bundle
    assert _limits(bundle) == (64, 64, 64)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert all(r["examples"] for r in manifest["validation"]["reports"])  # the grid kept its rows of <= 64 tokens
    with pytest.raises(Exception, match=r"--max-length 513 exceeds the model's 512 positions; pass --max-length 512"):
        main_export(ExportOptions(model=str(tiny_checkpoint), output=tmp_path / "c", max_length=513, progress=False))


def test_model_source_is_an_alias_or_a_content_hash_never_a_path(
    tiny_export_bundle: Path, tiny_checkpoint: Path
) -> None:
    from acc.modeling.checkpoint import ZOO_DIR

    source = json.loads((tiny_export_bundle / "manifest.json").read_text())["model"]["source"]
    assert source == checkpoint_digest(tiny_checkpoint) and source.startswith("sha256:") and "/" not in source
    assert model_source_id("bert-sst2") == "bert-sst2" and model_source_id(ZOO_DIR / "gpt2-mini") == "gpt2-mini"
    assert model_source_id("minilm-l6") == "minilm-l6"


def test_a_moved_bundle_loads_and_the_tools_ask_for_the_checkpoint_in_one_line(
    tiny_export_bundle: Path, tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from acc.tools import aoti as aoti_tool
    from acc.tools import bench as bench_tool

    moved = tmp_path / "elsewhere" / "bundle"
    shutil.copytree(tiny_export_bundle, moved)
    assert Runtime.load(moved).predict(["a fine film ."]).labels  # verified and served from the new place
    for main, flag, argv in ((aoti_tool.main, "--model", ["--bundle", str(moved), "--no-progress"]),
                             (bench_tool.main, "--source", [str(moved), "--batches", "1", "--seqs", "16"])):  # fmt: skip
        assert main(argv) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "exported from a local checkpoint" in errors[0]
        assert errors[0].endswith(f"pass {flag} DIR with that checkpoint"), errors[0]
    assert source_checkpoint(checkpoint_digest(tiny_checkpoint), tiny_checkpoint, "--model") == str(tiny_checkpoint)
    with pytest.raises(ModelError, match="pass --model with the checkpoint the bundle was exported from"):
        source_checkpoint(checkpoint_digest(tiny_checkpoint), moved / "tokenizer", "--model")
