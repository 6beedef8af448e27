"""acc-build-ops keeps the Debian headers it downloads in its build cache, never in the source tree (#16 item 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from acc.runtime.custom_ops import REPO, deps_dir


def test_headers_of_the_session_build_sit_in_its_cache(
    ops_library: Path, ops_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACC_DEPS_DIR", raising=False)
    assert deps_dir(ops_cache) == ops_cache / "deps"
    cache = ops_library.parents[1] / "build" / ops_library.parent.name / "CMakeCache.txt"
    assert f"ACC_DEPS_DIR:PATH={ops_cache / 'deps'}\n" in cache.read_text()


def test_deps_dir_default_is_outside_the_source_tree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ACC_DEPS_DIR", raising=False)
    monkeypatch.setenv("ACC_CACHE_DIR", str(tmp_path / "cache"))
    assert deps_dir() == tmp_path / "cache" / "deps"
    assert not deps_dir().is_relative_to(REPO / "cpp")


def test_acc_deps_dir_environment_variable_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ACC_DEPS_DIR", str(tmp_path / "common-deps"))
    assert deps_dir(tmp_path / "cache") == tmp_path / "common-deps"
