"""exporter/dense_baseline.py: torch.onnx + ORT transformer optimizer, fused-op statistics, validation vs PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from acc.exporter.config import config_for
from acc.exporter.dense_baseline import BASELINE_METHOD, export_dense_baseline, validate_dense_baseline
from acc.modeling.checkpoint import load_model
from acc.profiles import ExportError, ToleranceError


@pytest.fixture(scope="module")
def baseline(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return export_dense_baseline(tiny_checkpoint, tmp_path_factory.mktemp("baseline"))


def test_fused_operator_statistics(baseline) -> None:  # noqa: ANN001
    fused = baseline.fused_ops
    # 2 layers: one EmbedLayerNormalization, an Attention and a BiasGelu per layer, two SkipLayerNormalizations each
    assert (fused["EmbedLayerNormalization"], fused["Attention"], fused["BiasGelu"]) == (1, 2, 2)
    assert fused["SkipLayerNormalization"] == 4
    assert baseline.fully_optimized
    assert baseline.method == BASELINE_METHOD and "transformers<4.58" in baseline.method
    proto = onnx.load(str(baseline.path))
    ops = {node.op_type for node in proto.graph.node}
    assert {"Attention", "EmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu"} <= ops
    assert proto.ir_version <= 10
    assert max(entry.version for entry in proto.opset_import if entry.domain in ("", "ai.onnx")) >= 17


def test_logits_match_pytorch_on_new_shapes(baseline, tiny_checkpoint: Path) -> None:  # noqa: ANN001
    assert baseline.max_abs_diff <= 1e-4
    import onnxruntime as ort

    torch.manual_seed(0)  # the checkpoint has a saved head; the seed only matters for base models
    hf = load_model(tiny_checkpoint).model.hf.eval()
    session = ort.InferenceSession(str(baseline.path), providers=["CPUExecutionProvider"])
    sample = config_for(hf.config).sample_inputs(batch=3, seq_len=50, seed=7)  # not a validated or export shape
    with torch.no_grad():
        reference = hf(**sample).logits.numpy()
    logits = session.run(["logits"], {name: tensor.numpy() for name, tensor in sample.items()})[0]
    assert np.abs(logits - reference).max() <= 1e-4


def test_validation_reports_a_mismatch(baseline, tiny_checkpoint: Path) -> None:  # noqa: ANN001
    hf = load_model(tiny_checkpoint).model.hf.eval()
    with torch.no_grad():
        hf.classifier.bias += 0.01  # a different model: every shape must fail, in one error
    with pytest.raises(ToleranceError, match=r"b=1 s=16: max\|diff\| 1\.00e-02.*b=2 s=8") as info:
        validate_dense_baseline(baseline.path, hf, config_for(hf.config), [(1, 16), (2, 8)])
    assert "\n" not in str(info.value)


def test_unfused_attention_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no fused Attention"):
        export_dense_baseline(tiny_checkpoint, tmp_path, attn_implementation="sdpa")
    allowed = export_dense_baseline(tiny_checkpoint, tmp_path, attn_implementation="sdpa",
                                    require_fused_attention=False)  # fmt: skip
    assert allowed.fused_ops["Attention"] == 0 and not allowed.fully_optimized
    assert allowed.max_abs_diff <= 1e-4  # unfused but still the same model
