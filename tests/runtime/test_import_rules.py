"""The runtime serves bundles without torch, transformers or the exporter (issue #18): checked by importing every
``acc.runtime`` module in a fresh interpreter, and statically on the source, where a lazy import would hide."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import acc.runtime

RUNTIME_DIR = Path(acc.runtime.__file__).parent
FORBIDDEN = ("torch", "transformers", "acc.exporter", "acc.modeling")
# Optional paths that may import what the runtime must not need, each only where the feature cannot work without it:
ALLOWED = {
    "hf.py": {"torch", "transformers"},  # the transformers pipeline adapter is a PreTrainedModel subclass
    "aoti.py": {"torch"},  # AOTInductor packages are torch programs
    "trt_backend.py": {"torch"},  # TensorRT engines run on torch CUDA buffers
    "trt_flavour.py": {"torch"},  # the GPU's compute capability, asked of torch on Jetsons without nvidia-smi
}
# Modules whose import itself is the optional path (they subclass or need the library at module level).
IMPORTED_ONLY_WITH_EXTRAS = {"acc.runtime.hf"}


def _forbidden(module: str) -> str | None:
    return next((name for name in FORBIDDEN if module == name or module.startswith(name + ".")), None)


def test_importing_any_runtime_module_pulls_in_no_torch_transformers_or_exporter() -> None:
    names = sorted(m.name for m in pkgutil.walk_packages(acc.runtime.__path__, "acc.runtime."))
    names = [name for name in names if name not in IMPORTED_ONLY_WITH_EXTRAS]
    assert "acc.runtime.runtime" in names and "acc.runtime.server" in names, names  # the walk found the package
    code = (
        "import importlib, json, sys\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "found = {}\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "    loaded = sorted({f for f in forbidden for m in sys.modules if m == f or m.startswith(f + '.')})\n"
        "    if loaded:\n"
        "        found[name] = loaded\n"
        "        break\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {}, f"importing {next(iter(found))} loaded {next(iter(found.values()))}"


def _offences(path: Path, relative: str) -> list[str]:
    """Every import of a forbidden module in ``path`` (at any depth, so lazy imports count) not allowed for it."""
    offences = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            name = _forbidden(module)
            if name is not None and name not in ALLOWED.get(relative, set()):
                offences.append(f"runtime/{relative}:{node.lineno} imports {module}")
    return offences


def test_no_runtime_source_imports_the_exporter_modeling_torch_or_transformers() -> None:
    files = sorted(RUNTIME_DIR.rglob("*.py"))
    assert len(files) > 20, files
    offences = [line for path in files for line in _offences(path, path.relative_to(RUNTIME_DIR).as_posix())]
    assert offences == [], "\n".join(offences)


def test_the_static_check_sees_lazy_imports_and_honours_the_allow_list(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        "import numpy\n\ndef f():\n    from acc.exporter.precision import variant_path\n    import torch.nn\n"
    )
    assert _offences(source, "module.py") == ["runtime/module.py:4 imports acc.exporter.precision",
                                              "runtime/module.py:5 imports torch.nn"]  # fmt: skip
    assert _offences(source, "aoti.py") == ["runtime/aoti.py:4 imports acc.exporter.precision"]
