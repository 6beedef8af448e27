"""``pip install acc-deploy`` is the torch-free runtime; exporting needs the ``[export]`` extra and says so in one line.

The install itself is proven in a fresh venv by tests/tools/test_torch_free_install.py (slow)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from acc.tools import export as export_tool
from acc.tools import export_extra

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
HEAVY = ("torch", "transformers", "onnxscript", "matplotlib", "safetensors")


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()


def test_core_dependencies_hold_no_torch_or_transformers() -> None:
    core = [_name(r) for r in PYPROJECT["project"]["dependencies"]]
    assert {"numpy", "onnxruntime", "tokenizers"} <= set(core), core
    assert [name for name in core if name in HEAVY] == []


def test_export_extra_adds_the_export_stack_and_dev_includes_it() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(HEAVY) <= {_name(r) for r in extras["export"]}
    assert "acc-deploy[export]" in extras["dev"]


def test_an_export_command_without_torch_fails_in_one_line(monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setattr(export_extra, "EXPORT_MODULES", ("torch", "acc_no_such_module"))
    assert export_tool.main(["--help"]) == 2
    err = capsys.readouterr().err
    assert err == (
        'error: acc-export needs acc_no_such_module, which this install lacks; pip install "acc-deploy[export]"\n'
    )


def test_with_the_extra_installed_the_command_runs(capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exit_info:
        export_tool.main(["--help"])
    assert exit_info.value.code == 0 and "acc-export" in capsys.readouterr().out
