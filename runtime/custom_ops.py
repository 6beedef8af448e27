"""The ``acc_ort_ops`` custom-op library (``cpp/ops``): find it, build it, register it with ONNX Runtime.

Why: fused-form graphs call ``ai.acc::AccScore`` and every ACC graph calls ``ai.acc::TokenSelect``. Without the
library ONNX Runtime inlines the ops' function bodies (AccScore's materialises the N×N probabilities; TokenSelect's
is ~30 small ops with two host syncs); with it, our kernels run instead. The runtime registers it for CUDA sessions
only: on CPU, ORT's own GEMM and softmax run the AccScore body faster than our kernel. Which
library: ``$ACC_ORT_OPS_LIBRARY`` if set, else the build cache (``$ACC_CACHE_DIR``, ``$XDG_CACHE_HOME/acc-deploy``
or ``~/.cache/acc-deploy``; ``ops/<source hash>-cpu|-cuda-sm<arch>/libacc_ort_ops.so``) that ``acc-build-ops``
fills. A cache entry is keyed by the sources, so an edited kernel is never loaded stale. ``acc-build-ops --trt``
also builds ``libacc_trt_plugins.so`` (AccScore as a TensorRT plugin, ``cpp/ops/trt``) next to it, in a ``-trt``
variant of the CUDA entry; TensorRT loads that one itself (``IPluginRegistry::loadLibrary``), nothing here does.

Device rule: a CUDA build carries the CPU kernels too and is preferred (once the library declares TokenSelect, ORT
needs a kernel for it on every EP). A CPU-only build is not registered for CUDA sessions: ORT would run the ops on
the CPU between GPU nodes, slower than the inlined bodies on the GPU.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from acc.profiles import AccError

if TYPE_CHECKING:
    import onnxruntime

LIBRARY_ENV = "ACC_ORT_OPS_LIBRARY"
CACHE_ENV = "ACC_CACHE_DIR"
LIBRARY_NAME = "libacc_ort_ops.so"
TRT_LIBRARY_NAME = "libacc_trt_plugins.so"
DEFAULT_CUDA_ARCH = "90"
REPO = Path(__file__).resolve().parents[1]
SOURCE_DIR = REPO / "cpp" / "ops"
DEPS_ENV = "ACC_DEPS_DIR"


class CustomOpsError(AccError):
    """The custom-op library cannot be found, built or loaded; the message says what to install or set."""


def cache_root() -> Path:
    """Root of acc-deploy's build cache (``$ACC_CACHE_DIR`` > ``$XDG_CACHE_HOME/acc-deploy`` > ``~/.cache/...``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "acc-deploy"


def deps_dir(cache_dir: Path | None = None) -> Path:
    """Cache of the Debian headers: ``$ACC_DEPS_DIR``, else ``deps/`` in the build cache (never the source tree)."""
    if os.environ.get(DEPS_ENV):
        return Path(os.environ[DEPS_ENV])
    return Path(cache_dir or cache_root()) / "deps"


def source_hash() -> str:
    """16 hex digits over every file of ``cpp/ops`` (path and bytes): the cache key of a build."""
    if not (SOURCE_DIR / "CMakeLists.txt").is_file():
        raise CustomOpsError(f"the custom-op sources are not at {SOURCE_DIR}; build from a checkout of acc-deploy "
                             f"(pip install -e .) or set {LIBRARY_ENV} to a built {LIBRARY_NAME}")  # fmt: skip
    digest = hashlib.sha256()
    for path in sorted(p for p in SOURCE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(SOURCE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _variant(cuda: bool, arch: str, trt: bool = False) -> str:
    return (f"cuda-sm{arch.replace(';', '-')}" + ("-trt" if trt else "")) if cuda else "cpu"


def cached_library(cuda: bool = False, arch: str = DEFAULT_CUDA_ARCH, cache_dir: Path | None = None,
                   trt: bool = False) -> Path:  # fmt: skip
    """Where ``build_library`` puts (and ``find_library`` looks for) this source tree's build of one variant; a
    ``trt`` build holds ``TRT_LIBRARY_NAME`` beside it."""
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    return root / "ops" / f"{source_hash()}-{_variant(cuda, arch, trt)}" / LIBRARY_NAME


def trt_include_dir(trt_include: Path | None = None) -> Path:
    """The directory holding TensorRT's ``NvInfer.h``: ``trt_include`` or its ``include/``; without one,
    ``$TENSORRT_ROOT/include`` or the system's (Debian's libnvinfer-headers-dev). One CustomOpsError line if absent."""
    if trt_include is not None:
        candidates = [Path(trt_include), Path(trt_include) / "include"]
    elif os.environ.get("TENSORRT_ROOT"):
        candidates = [Path(os.environ["TENSORRT_ROOT"]) / "include", Path(os.environ["TENSORRT_ROOT"])]
    else:
        candidates = [
            Path("/usr/include/x86_64-linux-gnu"),
            Path("/usr/include/aarch64-linux-gnu"),
            Path("/usr/include"),
        ]
    found = next((path for path in candidates if (path / "NvInfer.h").is_file()), None)
    if found is None:
        where = " or ".join(str(path) for path in candidates)
        raise CustomOpsError(f"TensorRT's NvInfer.h is not in {where}; pass --trt-include <TensorRT include directory> "
                             f"(or set TENSORRT_ROOT)")  # fmt: skip
    return found.resolve()


def _cuda_ep_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def find_library(device: str | None = None, cache_dir: Path | None = None) -> Path | None:
    """The library to register for sessions on ``device`` (``cpu``/``cuda``; None: ``cuda`` when ORT has the CUDA
    EP), or None when none is built. ``$ACC_ORT_OPS_LIBRARY`` wins and must exist."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise CustomOpsError(f"{LIBRARY_ENV}={explicit} does not exist; build it with `acc-build-ops` or unset "
                                 f"{LIBRARY_ENV} to use the build cache")  # fmt: skip
        return path
    if not (SOURCE_DIR / "CMakeLists.txt").is_file():
        return None  # installed without sources: nothing can have been built here
    cuda = device == "cuda" or (device is None and _cuda_ep_available())
    entries = (Path(cache_dir) if cache_dir is not None else cache_root()) / "ops"
    key = source_hash()
    candidates = sorted(entries.glob(f"{key}-cuda-sm*/{LIBRARY_NAME}"))
    if not cuda:
        candidates.append(entries / f"{key}-cpu" / LIBRARY_NAME)
    return next((path for path in candidates if path.is_file()), None)


def register(options: onnxruntime.SessionOptions, device: str | None = None) -> bool:
    """Register the library with ``options`` when one is built (True), else leave them as they are (False).

    Cheap and safe for every session: graphs without ``ai.acc::AccScore`` are unaffected (``TokenSelect`` stays a
    model-local function). A library that ORT cannot load is one ``CustomOpsError`` line.
    """
    path = find_library(device)
    if path is None:
        return False
    try:
        options.register_custom_ops_library(str(path))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CustomOpsError(f"onnxruntime cannot load the custom-op library {path} ({first}); rebuild it with "
                             f"`acc-build-ops` or unset {LIBRARY_ENV}") from exc  # fmt: skip
    return True


# ------------------------------------------------------------------------------------------------------------ build
def _tool(names: tuple[str, ...], env: str | None = None) -> str | None:
    if env and os.environ.get(env):
        return os.environ[env]
    return next((found for name in names if (found := shutil.which(name))), None)


def _check_tools(cuda: bool) -> tuple[str, list[str], list[str]]:
    """(cmake, generator args, extra -D args), or one CustomOpsError naming what to install."""
    cmake = _tool(("cmake",))
    if cmake is None:
        raise CustomOpsError("cmake is not installed; install it (apt-get install cmake, or pip install cmake)")
    if _tool(("c++", "g++", "clang++"), "CXX") is None:
        raise CustomOpsError("no C++17 compiler found; install one (apt-get install g++) or set CXX")
    extra = []
    if cuda:
        nvcc = _tool(("nvcc",), "CUDACXX") or next(
            (str(p) for p in (Path("/usr/local/cuda/bin/nvcc"),) if p.is_file()), None
        )
        if nvcc is None:
            raise CustomOpsError("nvcc is not installed; install the CUDA toolkit (or set CUDACXX), or build the "
                                 "CPU library without --cuda")  # fmt: skip
        extra.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    return cmake, generator, extra


def _ensure_headers(ort_root: Path | None, deps: Path) -> None:
    """ONNX Runtime headers: an SDK passed in, or Debian's in ``deps`` (fetched as the C++ runtime's build does)."""
    if ort_root is not None:
        if not any(
            (Path(ort_root) / sub / "onnxruntime_cxx_api.h").is_file() for sub in ("include", "include/onnxruntime")
        ):
            raise CustomOpsError(
                f"{ort_root} has no include/onnxruntime_cxx_api.h; pass an extracted ONNX Runtime release"
            )
        return
    if (deps / "onnxruntime" / "include" / "onnxruntime_cxx_api.h").is_file():
        return
    import importlib.util

    spec = importlib.util.spec_from_file_location("acc_fetch_deps", REPO / "cpp" / "scripts" / "fetch_deps.py")
    fetch_deps = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = fetch_deps  # type: ignore[union-attr]  # its dataclasses look their module up there
    spec.loader.exec_module(fetch_deps)  # type: ignore[union-attr]
    try:
        fetch_deps.fetch(deps)
    except fetch_deps.FetchError as exc:
        raise CustomOpsError(f"ONNX Runtime headers are missing in {deps} and could not be fetched: {exc}") from exc


def _run_logged(command: list[str], log: Path, what: str, progress: Callable[[str], None] | None) -> None:
    """Run ``command``, appending its output to ``log`` and passing build-step lines to ``progress``."""
    with open(log, "a", encoding="utf-8") as sink:
        sink.write("$ " + " ".join(command) + "\n")
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            sink.write(line)
            lines.append(line.rstrip())
            if progress is not None and line.startswith("["):
                progress(line.rstrip())
        code = process.wait()
    if code != 0:
        errors = [line for line in lines if "error" in line.lower()] or lines or ["(no output)"]
        raise CustomOpsError(f"{what} failed (exit {code}): {errors[0].strip()[:300]}; full log: {log}")


def build_library(
    cuda: bool = False,
    arch: str = DEFAULT_CUDA_ARCH,
    cache_dir: Path | None = None,
    ort_root: Path | None = None,
    jobs: int | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    trt: bool = False,
    trt_include: Path | None = None,
) -> Path:
    """Build ``cpp/ops`` with CMake (CUDA kernel when ``cuda``, for ``arch``, e.g. ``"90"`` or ``"80;90"``) and
    install the library into the build cache (temp dir, then rename); returns its path. Reuses an existing build
    of the same sources unless ``force``. Missing cmake / compiler / nvcc / headers: one CustomOpsError line.
    ``trt`` (needs ``cuda``): also the TensorRT plugin library, ``TRT_LIBRARY_NAME`` beside the returned path,
    compiled against the headers of ``trt_include_dir(trt_include)``."""
    if trt and not cuda:
        raise CustomOpsError("the TensorRT plugin runs the CUDA kernels: build it with --cuda --trt")
    include = trt_include_dir(trt_include) if trt else None
    target = cached_library(cuda, arch, cache_dir, trt)
    if target.is_file() and (not trt or (target.parent / TRT_LIBRARY_NAME).is_file()) and not force:
        return target
    cmake, generator, extra = _check_tools(cuda)
    deps = deps_dir(cache_dir)
    _ensure_headers(ort_root, deps)
    build_dir = target.parent.parent / "build" / target.parent.name
    cache = build_dir / "CMakeCache.txt"
    wanted = "Ninja" if generator else "Unix Makefiles"
    if cache.is_file() and f"CMAKE_GENERATOR:INTERNAL={wanted}\n" not in cache.read_text():
        shutil.rmtree(build_dir)  # another generator; CMake refuses to switch in place
    build_dir.mkdir(parents=True, exist_ok=True)
    log = build_dir / "build.log"
    log.write_text("")
    configure = [cmake, "-S", str(SOURCE_DIR), "-B", str(build_dir), *generator, "-DCMAKE_BUILD_TYPE=Release",
                 f"-DACC_OPS_CUDA={'ON' if cuda else 'OFF'}", f"-DPython3_EXECUTABLE={sys.executable}",
                 f"-DACC_DEPS_DIR={deps}", *extra]  # fmt: skip
    if cuda:
        configure.append(f"-DCMAKE_CUDA_ARCHITECTURES={arch}")
    configure.append(f"-DACC_OPS_TRT={'ON' if trt else 'OFF'}")
    if include is not None:
        configure.append(f"-DTENSORRT_ROOT={include}")
    if ort_root is not None:
        configure.append(f"-DONNXRUNTIME_ROOT={ort_root}")
    if progress is not None:
        progress(f"configuring {_variant(cuda, arch, trt)} build in {build_dir}")
    _run_logged(configure, log, "CMake configure", progress)
    _run_logged(
        [cmake, "--build", str(build_dir), "--parallel", str(jobs or os.cpu_count() or 2)], log, "CMake build", progress
    )
    built = [build_dir / name for name in (LIBRARY_NAME, *([TRT_LIBRARY_NAME] if trt else []))]
    for path in built:
        if not path.is_file():
            raise CustomOpsError(f"CMake build finished without {path}; full log: {log}")
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent.parent))
    try:
        for path in built:
            shutil.copy2(path, staging / path.name)
        if target.parent.exists():
            shutil.rmtree(target.parent)
        os.replace(staging, target.parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target
