"""One AOTInductor package per session: ``acc-aoti`` on a copy of the real tiny bundle (profile s1.5, length 32).

AOTInductor compiles take tens of seconds on CPU, so every test here reads the same package; the wrapper is compiled
at -O0 (Inductor's kernels keep their own flags) to shorten the build. ``tiny_export_bundle`` (tests/conftest.py)
is copied first: acc-aoti rewrites the bundle it is given, and other tests read the original.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

AOTI_PROFILE = "s1.5"
AOTI_LENGTH = 32
AOTI_BATCH = (1, 8)


@dataclass(frozen=True)
class AotiBundle:
    bundle: Path  # the bundle acc-aoti updated (aoti/ + manifest records)
    package: Path  # its one package
    checkpoint: Path  # the model the bundle was exported from (its content hash is model.source)
    cli_output: str


@pytest.fixture(scope="session")
def aoti_bundle(
    tiny_export_bundle: Path, tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory
) -> AotiBundle:
    import torch._inductor.config as inductor_config

    from acc.tools.aoti import main

    bundle = tmp_path_factory.mktemp("aoti") / "tiny"
    shutil.copytree(tiny_export_bundle, bundle)
    argv = [str(bundle), "--device", "cpu", "--model", str(tiny_checkpoint), "--profiles", AOTI_PROFILE,
            "--seq-buckets", str(AOTI_LENGTH), "--batch-range", ",".join(map(str, AOTI_BATCH)), "--quiet"]  # fmt: skip
    out = io.StringIO()
    with inductor_config.patch({"aot_inductor.compile_wrapper_opt_level": "O0"}), contextlib.redirect_stdout(out):
        code = main(argv)
    assert code == 0, out.getvalue()
    package = bundle / "aoti" / f"{AOTI_PROFILE}_{AOTI_LENGTH}.pt2"
    return AotiBundle(bundle, package, tiny_checkpoint, out.getvalue())
