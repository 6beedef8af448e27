"""Every console script in pyproject.toml follows one set of CLI conventions (issue #16, items 5 and 10).

--version, defaults and an Examples section in --help, no RST markup, the same spelling for the same thing (BUNDLE
positional, -o/--output, --quiet, --device {auto,cpu,cuda,cuda:N}), old spellings still accepted with a warning,
and progress lines without Rich's source location.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from acc.tools import cli

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
RUNS_NO_MODEL = {"acc-build-ops"}  # compiles a library; every other command runs a model and takes --device
OLD_SPELLINGS = {"--bundle", "--from-bundle", "--calibrate", "--output-dir", "--out", "--no-progress", "--json-out"}


def _module(script: str):
    return importlib.import_module(SCRIPTS[script].split(":")[0])


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and each of its subcommands' parsers."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.dest not in ("help", "version")]


@pytest.fixture(params=sorted(SCRIPTS))
def script(request: pytest.FixtureRequest) -> str:
    return request.param


def test_every_console_script_is_a_tools_module_with_build_parser(script: str) -> None:
    module = _module(script)
    assert module.__name__.startswith("acc.tools.") and callable(module.main)
    assert module.build_parser().prog == script


def test_version(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _module(script).main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"{script} {cli.package_version()}"


def test_help_has_examples_and_no_markup(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    for parser in _parsers(_module(script).build_parser()):
        text = parser.format_help()
        examples = text.split("\nexamples:\n", 1)
        assert len(examples) == 2, f"{parser.prog} --help has no Examples section"
        assert all(line.strip().startswith(("acc-", "curl", "export")) for line in examples[1].splitlines() if line)
        assert script in examples[1]
        for markup in ("``", "$OUT", "device call"):
            assert markup not in text, f"{parser.prog} --help shows {markup!r}"


def test_help_shows_every_default(script: str) -> None:
    """Each option with a value default prints it: acc-export used to hide --model, --speedups and --max-length."""
    for parser in _parsers(_module(script).build_parser()):
        formatter = parser._get_formatter()
        for action in _options(parser):
            if action.default is None or isinstance(action.default, bool) or action.nargs == 0:
                continue
            line = formatter._expand_help(action)
            assert cli.show_default(action.default) in line, f"{parser.prog} {action.option_strings}: {line!r}"


def test_same_thing_same_spelling(script: str) -> None:
    module = _module(script)
    for parser in _parsers(module.build_parser()):
        flags = {flag for action in _options(parser) for flag in action.option_strings}
        assert not flags & OLD_SPELLINGS, f"{parser.prog} still spells {flags & OLD_SPELLINGS}"
        for action in _options(parser):
            if "-o" in action.option_strings or "--output" in action.option_strings:
                assert action.option_strings == ["-o", "--output"], action.option_strings
            if "--quiet" in action.option_strings:
                assert action.option_strings == ["-q", "--quiet"] and action.nargs == 0
            if action.dest == "device":
                assert action.option_strings == ["--device"] and action.metavar == cli.DEVICE_METAVAR
                assert action.type is cli.device_arg and action.default == "auto", parser.prog
        positionals = [a for a in parser._actions if not a.option_strings and "bundle" in a.dest]
        assert all(a.metavar == "BUNDLE" for a in positionals)
    runners = [p for p in _parsers(module.build_parser()) if not any(
        isinstance(a, argparse._SubParsersAction) for a in p._actions)]  # fmt: skip
    for parser in runners:
        has_device = any(a.dest == "device" for a in parser._actions)
        expected = script not in RUNS_NO_MODEL and not parser.prog.endswith(" render")
        assert has_device == expected, f"{parser.prog}: --device {'missing' if expected else 'unexpected'}"


@pytest.mark.parametrize("text", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_device_spellings_accepted(text: str) -> None:
    assert cli.device_arg(text) == text


@pytest.mark.parametrize("text", ["gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", ""])
def test_device_spellings_refused_with_the_fix(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="pass auto, cpu, cuda or cuda:N"):
        cli.device_arg(text)


def test_cuda_index_selects_the_visible_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    assert cli.select_gpu("cuda:1") == "cuda"
    assert cli.select_gpu("cpu") == "cpu"
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "6"
    with pytest.raises(argparse.ArgumentTypeError, match=r"only 1 GPU\(s\) visible.*pass --device cuda:0 to cuda:0"):
        cli.select_gpu("cuda:3")


def test_old_spellings_still_work_with_one_warning(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.add_bundle(parser, optional=True)
    cli.add_output(parser, "out")
    cli.add_quiet(parser)
    renamed = {"--from-bundle": "", "--output-dir": "--output", "--no-progress": "--quiet"}
    args = cli.parse_args(parser, ["--from-bundle=b", "--output-dir", "o", "--no-progress"], renamed)
    assert (args.bundle, args.output, args.quiet) == (Path("b"), Path("o"), True)
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: --from-bundle is deprecated and will be removed; use a positional argument",
                   "warning: --output-dir is deprecated and will be removed; use --output",
                   "warning: --no-progress is deprecated and will be removed; use --quiet"]  # fmt: skip


def test_errors_spell_fixes_as_flags() -> None:
    message = ("no profile reaches accuracy 0.99 (best: s1.5 at 0.9); lower min_accuracy or pass best_effort=True; "
               "onnxruntime here has no CUDAExecutionProvider; pip install 'acc-deploy[gpu]' or use device='cpu'")  # fmt: skip
    assert cli.cli_spelling(message) == (
        "no profile reaches accuracy 0.99 (best: s1.5 at 0.9); lower --min-accuracy or pass --best-effort; "
        "onnxruntime here has no CUDAExecutionProvider; pip install 'acc-deploy[gpu]' or use --device cpu"
    )


def test_progress_lines_carry_no_source_location(tiny_export_bundle: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """Rich's ``console.log`` ends every line with ``file.py:NN``; users want the message (issue #16, item 10)."""
    from acc.tools import calibrate

    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    argv = [str(bundle), "--device", "cpu", "--batches", "1", "--seqs", "8", "--iters", "2", "--warmup", "0",
            "--threads", "1"]  # fmt: skip
    assert calibrate.main(argv) == 0
    err = capsys.readouterr().err
    assert err.strip(), "calibration printed no progress lines"
    assert not re.search(r"\w+\.py:\d+", err), err
