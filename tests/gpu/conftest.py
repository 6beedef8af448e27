"""Every test in tests/gpu is marked ``gpu`` and skips, naming what is missing, without onnxruntime's CUDA EP."""

from __future__ import annotations

from pathlib import Path

import pytest

from acc.runtime.session import available_ort_providers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    skip = pytest.mark.skipif(
        "CUDAExecutionProvider" not in available_ort_providers(),
        reason="needs onnxruntime-gpu with the CUDA EP (pip install 'acc-deploy[gpu]' on an NVIDIA GPU)",
    )
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.gpu)
            item.add_marker(skip)
