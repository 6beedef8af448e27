"""Fixtures of the custom-op tests: the CPU ``acc_ort_ops`` library built once per session, and AccScore models.

The library is built with ``acc.runtime.custom_ops.build_library`` (as ``acc-build-ops`` does) into
``build/ops-tests``, serialised by a lock file; ORT headers are fetched into its deps/ (or $ACC_DEPS_DIR).
No cmake or C++ compiler: skipped with the reason. Headers that cannot be fetched: the tests fail with the reason.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from acc.runtime.custom_ops import REPO, CustomOpsError, build_library

CACHE_DIR = REPO / "build" / "ops-tests"


@pytest.fixture(scope="session")
def ops_cache() -> Path:
    return CACHE_DIR


@pytest.fixture(scope="session")
def ops_library(ops_cache: Path) -> Path:
    """Path of the CPU build of cpp/ops for the current sources."""
    ops_cache.mkdir(parents=True, exist_ok=True)
    with open(ops_cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return build_library(cuda=False, cache_dir=ops_cache)
        except CustomOpsError as exc:
            if "not installed" in str(exc) or "no C++17 compiler" in str(exc):
                pytest.skip(f"custom-op library not buildable here: {exc}")
            pytest.fail(str(exc), pytrace=False)
