"""Every test in tests/gpu is marked ``gpu`` and skips, naming what is missing, without onnxruntime's CUDA EP."""

from __future__ import annotations

from pathlib import Path

import pytest


def _cuda_ep() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    skip = pytest.mark.skipif(
        not _cuda_ep(), reason="needs onnxruntime-gpu with the CUDA EP (pip install 'acc-deploy[gpu]' on an NVIDIA GPU)"
    )
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.gpu)
            item.add_marker(skip)
