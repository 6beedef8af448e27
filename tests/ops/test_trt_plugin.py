"""The TensorRT plugin library ``libacc_trt_plugins.so`` (``cpp/ops/trt``): AccScore as an ``IPluginV3``.

Compiles the standalone plugin project against TensorRT's headers (``$ACC_TRT_INCLUDE``: the directory holding
``NvInfer.h`` or its parent) with nvcc, then checks what a machine without TensorRT or a GPU can: only TensorRT's plugin-library
entry points are exported, nothing but libc/libstdc++/CUDA (and TensorRT) symbols is left unresolved, no TensorRT
library is linked, and the plugin's build-phase half behaves (``acc_trt_plugin_check`` drives creator and plugin
through the interfaces as TensorRT's ONNX parser and builder would). Skipped with the reason without TensorRT headers,
nvcc or cmake (CI has no TensorRT headers). ``enqueue`` itself needs TensorRT on a GPU: not run here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from acc.runtime.custom_ops import (
    SOURCE_DIR,
    TRT_LIBRARY_NAME,
    CustomOpsError,
    build_library,
    trt_include_dir,
)
from acc.tools.build_ops import main as build_ops_main

INCLUDE_ENV = "ACC_TRT_INCLUDE"
# What the plugin may leave for the dynamic linker: versioned libc / libstdc++ / libgcc symbols, the weak hooks every
# shared object has, the CUDA runtime or driver, and TensorRT itself (resolved from the libnvinfer that loads it).
_SYSTEM_VERSION = re.compile(r"@(GLIBC|GLIBCXX|CXXABI|GCC)_[0-9.]+$")
_WEAK_HOOKS = {"_ITM_deregisterTMCloneTable", "_ITM_registerTMCloneTable", "__gmon_start__"}
_CUDA_OR_TENSORRT = re.compile(r"^(cuda|cu[A-Z]|_Z.*nvinfer1|getInferLib|createInfer|getPluginRegistry|getLogger)")
_ALLOWED_NEEDED = re.compile(r"^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[-\w]*|libcudart)\.so")


def _nvcc() -> str | None:
    for candidate in (os.environ.get("CUDACXX"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def trt_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build directory holding the plugin library and acc_trt_plugin_check, compiled for sm_90."""
    if not os.environ.get(INCLUDE_ENV):
        pytest.skip(f"no TensorRT headers: set {INCLUDE_ENV} to the directory with NvInfer.h (or its parent)")
    try:
        include = trt_include_dir(Path(os.environ[INCLUDE_ENV]))
    except CustomOpsError as exc:
        pytest.fail(f"{INCLUDE_ENV}: {exc}", pytrace=False)
    nvcc = _nvcc()
    cmake = shutil.which("cmake")
    if nvcc is None or cmake is None or shutil.which("nm") is None:
        pytest.skip("the TensorRT plugin needs nvcc, cmake and nm (binutils) to build and inspect")
    build = tmp_path_factory.mktemp("trt-plugin")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    steps = [
        [cmake, "-S", str(SOURCE_DIR / "trt"), "-B", str(build), *generator, f"-DTENSORRT_ROOT={include}",
         f"-DCMAKE_CUDA_COMPILER={nvcc}", "-DCMAKE_CUDA_ARCHITECTURES=90", "-DCMAKE_BUILD_TYPE=Release"],
        [cmake, "--build", str(build), "--parallel", "2", "--target", "acc_trt_plugins", "acc_trt_plugin_check"],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(step[:2])} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}", pytrace=False)
        # -Wall -Wextra for host code, -Xptxas=-warn-spills for the kernels: the build must be warning-clean.
        warnings = [
            line for line in (done.stdout + done.stderr).splitlines() if re.search(r"warning", line, re.IGNORECASE)
        ]
        assert not warnings, "\n".join(warnings[:20])
    return build


def _symbols(library: Path, *flags: str) -> list[str]:
    out = subprocess.run(["nm", "-D", *flags, str(library)], capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def test_exports_only_the_plugin_entry_points(trt_build: Path) -> None:
    assert set(_symbols(trt_build / TRT_LIBRARY_NAME, "--defined-only")) == {"getCreators", "setLoggerFinder"}


def test_unresolved_symbols_are_system_cuda_or_tensorrt(trt_build: Path) -> None:
    library = trt_build / TRT_LIBRARY_NAME
    undefined = _symbols(library, "--undefined-only")
    assert undefined, "nm listed no undefined symbols at all: not a dynamically linked library?"
    unexpected = [
        s for s in undefined if not (_SYSTEM_VERSION.search(s) or s in _WEAK_HOOKS or _CUDA_OR_TENSORRT.match(s))
    ]
    assert not unexpected, f"unresolved symbols beyond libc/CUDA/TensorRT: {unexpected[:20]}"
    dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
    assert needed and all(_ALLOWED_NEEDED.match(name) for name in needed), needed  # no libnvinfer, no ORT


def test_build_phase_behaviour(trt_build: Path) -> None:
    done = subprocess.run([str(trt_build / "acc_trt_plugin_check"), str(trt_build / TRT_LIBRARY_NAME)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok:"), done.stdout


def test_build_ops_names_missing_tensorrt_headers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build_ops_main(["--trt", "--trt-include", str(tmp_path), "--cache-dir", str(tmp_path / "cache")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "NvInfer.h" in err and "--trt-include" in err, err
    with pytest.raises(CustomOpsError, match="--cuda --trt"):
        build_library(cuda=False, trt=True, cache_dir=tmp_path / "cache")
