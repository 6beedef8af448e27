"""ONNX Runtime's CUDA EP answers as its CPU EP does, on every graph of a bundle (the verdict of
benchmarks/device/gpu_check.py, as a test: ``pytest -m gpu``).

fp32 on both sides, so the only differences are summation order and the GPU's TopK on near-equal scores; labels
must agree on (almost) every SST-2 dev sentence and logits stay close where nothing flipped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acc.modeling.data import load_sst2
from acc.runtime import Runtime

MIN_LABEL_AGREEMENT = 0.97
MEDIAN_LOGITS_ATOL = 1e-3


def test_every_profile_on_cuda_agrees_with_cpu(tiny_export_bundle: Path, sst2_dir: Path) -> None:
    texts = list(load_sst2("dev", sst2_dir).texts[:64])
    cuda = Runtime.load(tiny_export_bundle, device="cuda", precision="fp32")
    cpu = Runtime.load(tiny_export_bundle, device="cpu", precision="fp32")
    speedups = [entry.profile.target_speedup for entry in cpu.manifest.profiles] + [1.8]  # 1.8: the adjustable graph
    for speedup in speedups:
        on_gpu, on_cpu = cuda.predict(texts, speedup=speedup), cpu.predict(texts, speedup=speedup)
        assert on_gpu.profile == on_cpu.profile
        agreement = float(np.mean(np.array(on_gpu.labels) == np.array(on_cpu.labels)))
        assert agreement >= MIN_LABEL_AGREEMENT, f"{on_gpu.profile}: CUDA and CPU labels agree on {agreement:.1%}"
        diff = np.abs(np.asarray(on_gpu.logits) - np.asarray(on_cpu.logits)).max(axis=1)
        assert float(np.median(diff)) < MEDIAN_LOGITS_ATOL, (
            f"{on_gpu.profile}: median max |Δlogit| {np.median(diff):.2e}"
        )
