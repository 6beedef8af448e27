"""The CUDA ``ai.acc::AccScore`` kernel of ``acc_ort_ops`` runs on the CUDA EP and equals the PyTorch reference (the
verdict of benchmarks/device/ops_check.py, as a test: ``pytest -m gpu``).

Needs onnxruntime-gpu and the library built for CUDA (``acc-build-ops --cuda``); each missing piece is a skip
that names it. fp16 inputs run the tensor-core kernel, fp32 the FMA kernel; both score in fp32.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from onnx import TensorProto

from acc.exporter.acc_score import acc_score_model, acc_score_reference
from acc.runtime.custom_ops import find_library

HEADS, HEAD_DIM, SCALE = 12, 64, 0.125
MAX_ABS_DIFF = 1e-4  # ops_check's bound for kernel vs body; the reference here is the body's own definition


@pytest.fixture(scope="module")
def cuda_library() -> Path:
    library = find_library("cuda")
    if library is None:
        pytest.skip("no acc_ort_ops library built for CUDA: run `acc-build-ops --cuda` on this machine")
    return library


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_acc_score_kernel_runs_on_cuda_and_matches_the_reference(
    cuda_library: Path, dtype: str, tmp_path: Path
) -> None:
    import onnxruntime as ort

    onnx_type, numpy_dtype = (TensorProto.FLOAT, np.float32) if dtype == "fp32" else (TensorProto.FLOAT16, np.float16)
    model = acc_score_model(onnx_type, HEADS * HEAD_DIM, HEADS, SCALE)
    rng = np.random.default_rng(0)
    q, k = (rng.standard_normal((4, 128, HEADS * HEAD_DIM)).astype(numpy_dtype) for _ in range(2))
    mask = np.ones((4, 128), np.int64)
    for row, valid in enumerate((128, 97, 31, 1)):  # right padding of different lengths, one row of [CLS] alone
        mask[row, valid:] = 0

    options = ort.SessionOptions()
    options.register_custom_ops_library(str(cuda_library))
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "profile")
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CUDAExecutionProvider"])
    (score,) = session.run(None, {"q": q, "k": k, "m": mask})
    events = json.loads(Path(session.end_profiling()).read_text())
    ran = {(e["args"].get("op_name"), e["args"].get("provider")) for e in events if e.get("cat") == "Node"}
    assert ("AccScore", "CUDAExecutionProvider") in ran, f"the CUDA kernel did not run: {sorted(ran)}"

    expected = acc_score_reference(torch.from_numpy(q).float(), torch.from_numpy(k).float(), torch.from_numpy(mask),
                                   HEADS, SCALE).numpy()  # fmt: skip
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(score[~finite], expected[~finite])  # −inf padding and +inf [CLS] in the same places
    assert float(np.abs(score[finite] - expected[finite]).max()) < MAX_ABS_DIFF
