"""exporter/families.py, family.py, flags.py: the family registry covers every checkpoint family, an option a family
cannot honour is one line naming the option and the family (never silently ignored), and acc-export's parser
defaults are the ExportOptions defaults."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from acc.exporter.families import FAMILIES, family_for_model
from acc.exporter.family import ExportFamily
from acc.exporter.int8 import Int8Options
from acc.exporter.options import ExportOptions
from acc.exporter.pipeline import main_export
from acc.exporter.triton import TritonOptions
from acc.modeling.checkpoint import MODEL_TYPE_FAMILIES
from acc.modeling.families import FAMILIES as ENCODER_TYPES
from acc.profiles import ExportError
from acc.tools import cli
from acc.tools.export import RENAMED, build_parser

# A value other than the default for every option some family refuses, and how acc-export spells it.
NON_DEFAULT: dict[str, tuple[Any, str]] = {
    "inline": (True, "--inline"),
    "precision": (("fp32", "fp16"), "--precision fp32,fp16"),
    "int8": (Int8Options(per_channel=False), "--int8-per-tensor"),
    "attention": ("fused", "--attention fused"),
    "engine": ("trt", "--engine trt"),
    "engine_precision": (("fp32",), "--engine-precision fp32"),
    "engine_batch": ((1, 4, 8), "--engine-batch 1,4,8"),
    "engine_seq": ((8, 64, 128), "--engine-seq 8,64,128"),
    "engine_target": ("sm89", "--engine-target sm89"),
    "triton": (Path("triton_repo"), "--triton triton_repo"),
    "triton_options": (TritonOptions(kind="cpu"), "--triton-kind cpu"),
    "validation_data": (Path("texts.txt"), "--validation-data texts.txt"),
}


def _checkpoint_dir(tmp_path: Path, model_type: str) -> Path:
    folder = tmp_path / model_type
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    return folder


def test_registry_covers_every_checkpoint_family(tmp_path: Path) -> None:
    assert set(FAMILIES) == set(MODEL_TYPE_FAMILIES.values())
    for name, family in FAMILIES.items():
        assert family.name == name
    for model_type in {*MODEL_TYPE_FAMILIES, *ENCODER_TYPES}:  # every encoder of modeling/families.py too
        family = family_for_model(str(_checkpoint_dir(tmp_path, model_type)))
        assert family is FAMILIES[MODEL_TYPE_FAMILIES[model_type]], model_type


def test_every_refused_option_is_a_flagged_field_with_a_test_value() -> None:
    fields = {f.name for f in dataclasses.fields(ExportOptions)}
    for family in FAMILIES.values():
        assert set(family.unsupported) <= fields, family.label
        assert set(family.unsupported) <= set(NON_DEFAULT), family.label


@pytest.mark.parametrize("family", sorted(FAMILIES.values(), key=lambda f: f.name), ids=lambda f: f.name)
def test_unsupported_option_is_one_line_naming_option_and_family(family: type[ExportFamily]) -> None:
    for name in family.unsupported:
        value, setting = NON_DEFAULT[name]
        options = ExportOptions(**{name: value})
        with pytest.raises(ExportError) as info:
            family.check_options(options)
        message = str(info.value)
        flag = setting.split()[0]
        assert message == f"{setting} is not supported for {family.label} models; drop {flag}", message
    family.check_options(ExportOptions())  # the defaults are always fine


def test_encoder_classifiers_honour_every_option() -> None:
    every = {name: value for name, (value, _) in NON_DEFAULT.items()}
    FAMILIES["encoder-classifier"].check_options(ExportOptions(**every))


def test_main_export_refuses_before_any_work(tiny_gpt2_checkpoint: Path, tmp_path: Path) -> None:
    output = tmp_path / "bundle"
    options = ExportOptions(model=str(tiny_gpt2_checkpoint), output=output, attention="fused", progress=False)
    with pytest.raises(ExportError, match=r"^--attention fused is not supported for gpt2 \(causal\) models; "
                                          r"drop --attention$"):  # fmt: skip
        main_export(options)
    assert list(tmp_path.iterdir()) == []


def test_parser_defaults_are_the_dataclass_defaults() -> None:
    parser = build_parser()
    assert ExportOptions.from_args(parser.parse_args([])) == ExportOptions()
    dests = {action.dest for action in parser._actions}
    nested = {f"triton_{f.name}" for f in dataclasses.fields(TritonOptions)}
    nested |= {"int8_per_channel", "int8_float_nodes"}  # reduce_range is API only
    assert {f.name for f in dataclasses.fields(ExportOptions)} - {"triton_options", "int8"} | nested <= dests


def test_flags_and_deprecated_spellings_reach_the_options() -> None:
    argv = ["old_bundle", "--triton", "repo", "--no-adjustable", "--no-bench", "-q", "--speedups", "2,3",
            "--bench-batches", "1,4", "--engine-seq", "8,64,128", "--precision", "fp16", "--int8-per-tensor",
            "--int8-float-nodes", "", "--triton-max-batch", "8", "-o", "out"]  # fmt: skip
    options = ExportOptions.from_args(cli.parse_args(build_parser(), argv, RENAMED))
    assert (options.from_bundle, options.triton, options.output) == (Path("old_bundle"), Path("repo"), Path("out"))
    assert (options.adjustable, options.bench, options.progress) == (False, False, False)
    assert (options.speedups, options.bench_batches, options.engine_seq) == ((2.0, 3.0), (1, 4), (8, 64, 128))
    assert options.precision == ("fp32", "fp16") and options.int8 == Int8Options(per_channel=False, float_nodes=())
    assert options.triton_options == TritonOptions(max_batch=8)
    renamed = cli.parse_args(build_parser(), ["--from-bundle", "b", "--triton", "r", "--no-progress"], RENAMED)
    assert ExportOptions.from_args(renamed).from_bundle == Path("b") and not ExportOptions.from_args(renamed).progress


def test_api_only_settings_are_refused_by_their_keyword() -> None:
    options = ExportOptions(int8=Int8Options(reduce_range=True))
    with pytest.raises(ExportError, match=r"^reduce_range=True is not supported for t5 \(seq2seq\) models; "
                                          r"drop reduce_range$"):  # fmt: skip
        FAMILIES["seq2seq"].check_options(options)
