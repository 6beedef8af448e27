"""Where a CMake configure of ``cpp/`` puts the headers it downloads (issue #16, item 8).

``cmake -S cpp -B build/x`` must keep every file it writes under ``build/x``: the Debian headers default to
``<build>/_deps``; ``-DACC_DEPS_DIR=`` or the ``ACC_DEPS_DIR`` environment variable point at a shared cache.
Configured with ``ACC_FETCH_DEPS=OFF`` so nothing is downloaded: CMake's error names the directory it looked in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _configure(source: str, build: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    cmake = shutil.which("cmake")
    if cmake is None or not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        pytest.skip("needs cmake and a C++ compiler (apt-get install cmake g++)")
    done = subprocess.run([cmake, "-S", str(REPO / source), "-B", str(build), "-DACC_FETCH_DEPS=OFF",
                           "-DACC_BUILD_TESTS=OFF", "-DACC_BUILD_EXAMPLES=OFF", f"-DPython3_EXECUTABLE={sys.executable}",
                           *extra], check=False, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})  # fmt: skip
    return " ".join((done.stdout + done.stderr).split())  # CMake wraps long messages


@pytest.mark.parametrize("source", ["cpp", "cpp/ops"])
def test_configure_looks_for_headers_under_the_build_directory(source: str, tmp_path: Path) -> None:
    env = {"ACC_DEPS_DIR": ""}  # the default, whatever the caller's shell exports
    output = _configure(source, tmp_path / "build", env=env)
    assert f"{tmp_path / 'build' / '_deps'} and ACC_FETCH_DEPS=OFF" in output, output
    assert "cpp/.deps" not in output.replace("cpp/../.deps", "cpp/.deps"), output


def test_acc_deps_dir_environment_variable_overrides_the_default(tmp_path: Path) -> None:
    shared = tmp_path / "shared-deps"
    output = _configure("cpp", tmp_path / "build", env={"ACC_DEPS_DIR": str(shared)})
    assert f"{shared} and ACC_FETCH_DEPS=OFF" in output, output


def test_cmake_option_wins_over_the_environment(tmp_path: Path) -> None:
    option = tmp_path / "option-deps"
    output = _configure(
        "cpp", tmp_path / "build", f"-DACC_DEPS_DIR={option}", env={"ACC_DEPS_DIR": str(tmp_path / "env")}
    )
    assert f"{option} and ACC_FETCH_DEPS=OFF" in output, output
