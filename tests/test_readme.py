"""The README's Python example runs as written against a real bert-sst2 bundle (exported here, small settings)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_starts_with_install_and_test_commands() -> None:
    first_bash = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.S).group(1).strip().splitlines()
    assert "pip install" in first_bash[0] and "acc-export --model bert-sst2" in first_bash[0]
    ci = (README.parent / ".ci" / "run").read_text()
    assert first_bash[1] in ci, ".ci/run must run exactly the README's test command"
    install, *_, command_1 = (part.strip() for part in first_bash[0].split("&&"))
    assert install.startswith("python3 -m venv .venv") and '"torch==2.13.*" -e ".[dev]"' in ci
    assert f"\n{command_1} " in ci, ".ci/run must run the README's command 1 (short flags may follow)"
    assert "mktemp -d" in ci and "git clone" in ci and 'ls -A "$work"' in ci  # a lone clone, checked to be one


@pytest.fixture(scope="module")
def bert_sst2_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from acc.exporter import ExportOptions, main_export

    options = ExportOptions(model="bert-sst2", output=tmp_path_factory.mktemp("readme") / "bert-sst2",
                            validate_grid="none", bench=False, progress=False)  # fmt: skip
    return main_export(options).bundle


def test_readme_python_example_runs(bert_sst2_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _python_blocks()[0].replace('"bundles/bert-sst2"', repr(str(bert_sst2_bundle)))
    exec(compile(code, str(README), "exec"), {})  # noqa: S102 - the README's own example
    printed = capsys.readouterr().out
    assert "positive" in printed  # "a gorgeous, witty, seductive movie ." at 3x
    assert "s3" in printed  # fastest profile with >= 85% SST-2 dev accuracy
