"""docs/img cannot drift from the exporter again (issue #16, item 3): the committed TokenSelect DOT is what the
exporter's function gives now, and each PNG was drawn from the committed DOT (sha256 in its tEXt chunk)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def render_graphs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_graphs", DOCS / "render_graphs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_token_select_dot_is_the_current_function(render_graphs: ModuleType) -> None:
    committed = (DOCS / "img" / "token_select.dot").read_text()
    assert committed == render_graphs.token_select_dot(), (
        "the TokenSelect body changed; re-render with: python docs/render_graphs.py BUNDLE (needs graphviz)"
    )


@pytest.mark.parametrize("name", ["token_select", "pruned_layer"])
def test_each_png_was_drawn_from_its_committed_dot(render_graphs: ModuleType, name: str) -> None:
    png = (DOCS / "img" / f"{name}.png").read_bytes()
    dot = (DOCS / "img" / f"{name}.dot").read_text()
    assert render_graphs.png_text(png).get(render_graphs.DOT_HASH_KEY) == render_graphs.dot_sha256(dot), (
        f"docs/img/{name}.png is not drawn from {name}.dot; re-render with: python docs/render_graphs.py BUNDLE"
    )


def test_check_mode_reports_a_changed_body(
    render_graphs: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (DOCS / "img").glob("*.*"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert render_graphs.main(["--check", "-o", str(tmp_path)]) == 0
    (tmp_path / "token_select.dot").write_text('digraph G {\nn0 [label="GatherElements"];\n}\n')
    assert render_graphs.main(["--check", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "token_select.dot differs from the exporter's TokenSelect body" in err
    assert "token_select.png was not drawn from token_select.dot" in err


def test_png_text_chunk_round_trip(render_graphs: ModuleType) -> None:
    png = (DOCS / "img" / "token_select.png").read_bytes()
    tagged = render_graphs.with_text(png, "k", "v")
    assert render_graphs.png_text(tagged)["k"] == "v" and tagged.startswith(b"\x89PNG\r\n\x1a\n")
