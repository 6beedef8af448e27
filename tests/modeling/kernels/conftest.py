"""Kernel tests: on a machine without a GPU the Triton kernels run on CPU tensors through Triton's interpreter.

``TRITON_INTERPRET`` is read when a kernel is defined, i.e. when ``acc.modeling.kernels`` first imports its Triton
modules (lazily, inside a test). It is set only while this folder's modules run and restored afterwards, so no other
test sees it. On a GPU machine the kernels compile for the GPU; CPU-interpreter tests then skip themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _triton_interpreter_without_gpu() -> Iterator[None]:
    import torch

    if torch.cuda.is_available():
        yield
        return
    previous = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = previous


@pytest.fixture
def triton_cpu() -> None:
    """Skip unless the Triton kernels can run on CPU tensors here (triton installed, interpreter mode)."""
    from acc.modeling.kernels import triton_status

    reason = triton_status("cpu")
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture
def triton_cpu_if():
    """For parametrised tests where only some cases run kernels: call it to skip like ``triton_cpu``."""
    from acc.modeling.kernels import triton_status

    def check() -> None:
        reason = triton_status("cpu")
        if reason is not None:
            pytest.skip(reason)

    return check


@pytest.fixture
def cuda_triton() -> None:
    """Skip unless a GPU and compiled Triton kernels are available."""
    import torch

    from acc.modeling.kernels import triton_status

    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU")
    reason = triton_status("cuda")
    if reason is not None:
        pytest.skip(reason)
