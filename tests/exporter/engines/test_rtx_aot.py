"""Real TensorRT-RTX engine builds on CPU (ahead of time, no GPU): every graph of the tiny test bundle.

TensorRT-RTX 1.7 builds engines for an explicit target compute capability on a machine without a GPU, so CI
builds real engines here: ``acc-export --engine trt --engine-target sm89`` end to end (dense, s1.5 and the
adjustable graph, fp32 and fp16), plus what the real ONNX parser refuses. What this cannot show: that an engine
*runs* or what its logits are (no GPU here; TensorRT-RTX has no sm90 target for the H100 either), so the run path
is checked only for its one-line refusal; fake_trt.py still stands in for full TensorRT and GPU-only behaviour.
Skips, saying why, when TensorRT-RTX is not installed (``pip install 'acc-deploy[trt]'``; the dev extra has it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
import pytest

from acc.exporter.engines import (
    EngineFromNetwork,
    Fp16Onnx,
    InlinedOnnx,
    KeepCountsOnnx,
    NetworkFromOnnx,
    engine_target,
    trt_module,
)
from acc.profiles import AccError, EngineBuildError
from acc.runtime.trt_flavour import backend_name, visible_compute_capability

TARGET = "sm89"
SMALL = ["--speedups", "1.5", "--max-examples", "8", "--validate-grid", "none", "--no-bench", "--no-progress"]


def _no_rtx_reason() -> str | None:
    try:
        trt = trt_module()
    except AccError as exc:
        return f"needs TensorRT-RTX (pip install 'acc-deploy[trt]'): {exc}"
    if backend_name(trt) != "tensorrt-rtx":
        return f"needs TensorRT-RTX for a CPU-only build; {trt.__name__} is installed"
    if visible_compute_capability() is not None:
        return "a GPU is visible; this test pins the CPU-only ahead-of-time path"
    return None


pytestmark = [
    pytest.mark.trt_build,
    pytest.mark.skipif(_no_rtx_reason() is not None, reason=str(_no_rtx_reason())),
]


@pytest.fixture(scope="module")
def aot_bundle(tiny_checkpoint: Path, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``acc-export --engine trt --engine-target sm89`` of the tiny checkpoint on this GPU-less machine."""
    from acc.tools import export as export_tool

    output = tmp_path_factory.mktemp("rtx-aot") / "bundle"
    argv = ["--model", str(tiny_checkpoint), "--output", str(output), "--data-dir", str(sst2_dir), "--engine", "trt",
            "--engine-target", TARGET, "--engine-precision", "fp32,fp16", "--engine-batch", "1,2,4",
            "--engine-seq", "8,32,64", *SMALL]  # fmt: skip
    assert export_tool.main(argv) == 0
    return output


def test_every_graph_builds_a_real_engine_without_a_gpu(aot_bundle: Path) -> None:
    from acc.runtime import read_manifest

    trt = trt_module()
    manifest = read_manifest(aot_bundle, verify=True)  # every engine listed, present and hashed
    graphs = ["dense", "s1.5", "adjustable"]
    assert [(e.profile, e.precision) for e in manifest.engines] == [(g, p) for g in graphs for p in ("fp32", "fp16")]
    assert {(e.backend, e.compute_capability, e.trt_version) for e in manifest.engines} == {
        ("tensorrt-rtx", TARGET, trt.__version__)}  # fmt: skip
    sizes = {(e.profile, e.precision): (aot_bundle / e.file).stat().st_size for e in manifest.engines}
    weights = (aot_bundle / "graphs" / "weights.bin").stat().st_size
    for graph in graphs:  # real plans carry the weights: fp32 ≥ the graph's weights, fp16 well under fp32
        assert sizes[(graph, "fp32")] > 0.5 * weights and sizes[(graph, "fp16")] < 0.75 * sizes[(graph, "fp32")]
        assert not (aot_bundle / "engines" / f"{graph}.tensorrt-rtx.{TARGET}.fp32.engine").read_bytes().startswith(b"{")


def test_the_engine_cannot_run_here_and_says_so(aot_bundle: Path) -> None:
    from acc.runtime import read_manifest
    from acc.runtime.session import BackendError
    from acc.runtime.trt_backend import TrtBackend

    entry = read_manifest(aot_bundle).engines[0]
    with pytest.raises(BackendError) as info:
        TrtBackend(aot_bundle / entry.file, entry)
    message = str(info.value)
    assert "\n" not in message
    assert f"needs a CUDA GPU of compute capability {TARGET} to run, and none is visible here" in message


def test_without_a_target_the_cpu_build_asks_for_one(tiny_export_bundle: Path) -> None:
    network = NetworkFromOnnx(InlinedOnnx(tiny_export_bundle / "graphs" / "dense.onnx"))
    with pytest.raises(EngineBuildError, match="no CUDA GPU visible for TensorRT-RTX to build for; pass a target"):
        EngineFromNetwork(network, "fp32")()
    with pytest.raises(EngineBuildError) as info:
        engine_target()
    assert "no --engine-target was given" in str(info.value) and "pass --engine-target" in str(info.value)
    with pytest.raises(EngineBuildError, match="sm90 is not one of its targets"):
        engine_target("sm90")  # the H100: TensorRT-RTX 1.7 has no sm90
    assert engine_target("8.9").build_for == TARGET and not engine_target(TARGET).has_gpu


def test_adjustable_graph_still_needs_keep_counts(tiny_export_bundle: Path) -> None:
    """Its TopK widths follow the float ``keep_ratios`` input, which TensorRT refuses as K; the keep_counts form
    (host-computed widths) parses. If this starts to parse, retire ``KeepCountsOnnx`` from ``build_engines``."""
    graph = tiny_export_bundle / "graphs" / "adjustable.onnx"
    with pytest.raises(EngineBuildError) as info:
        NetworkFromOnnx(InlinedOnnx(graph))()
    message = str(info.value)
    assert "\n" not in message and "cannot parse adjustable.onnx" in message
    assert "keep_ratios is a shape tensor and must have type Int32 or Int64" in message and "TopK" in message
    parsed = NetworkFromOnnx(InlinedOnnx(KeepCountsOnnx(graph)))()
    inputs = {parsed.network.get_input(i).name: parsed.network.get_input(i) for i in range(parsed.network.num_inputs)}
    assert inputs["keep_counts"].is_shape_tensor


def test_parsed_network_keeps_logits_and_is_strongly_typed(tiny_export_bundle: Path) -> None:
    parsed = NetworkFromOnnx(InlinedOnnx(tiny_export_bundle / "graphs" / "s1.5.onnx"))()
    network = parsed.network
    assert parsed.strongly_typed and parsed.trt.__name__.startswith("tensorrt_rtx")
    assert [network.get_output(i).name for i in range(network.num_outputs)] == ["logits"]
    assert [tuple(network.get_input(i).shape) for i in range(network.num_inputs)] == [(-1, -1)] * 3
    with pytest.raises(EngineBuildError, match=r"has no output\(s\) \['probs'\]"):
        NetworkFromOnnx(InlinedOnnx(tiny_export_bundle / "graphs" / "s1.5.onnx"), outputs=("probs",))()


def test_fp16_engine_needs_an_fp16_graph(tiny_export_bundle: Path) -> None:
    """TensorRT-RTX networks are strongly typed: precision is the graph's, so fp32 weights cannot make fp16."""
    graph = InlinedOnnx(tiny_export_bundle / "graphs" / "dense.onnx")
    with pytest.raises(EngineBuildError) as info:
        EngineFromNetwork(NetworkFromOnnx(graph), "fp16", compute_capability=TARGET)()
    assert "needs an fp16 graph" in str(info.value) and "Fp16Onnx" in str(info.value)
    assert NetworkFromOnnx(Fp16Onnx(graph))().network.num_layers > 0


def test_unsupported_op_is_a_one_line_parser_error(tiny_export_bundle: Path, tmp_path: Path) -> None:
    for name in ("dense.onnx", "weights.bin"):
        shutil.copy(tiny_export_bundle / "graphs" / name, tmp_path / name)
    model = onnx.load(str(tmp_path / "dense.onnx"), load_external_data=False)
    node = next(n for n in model.graph.node if n.op_type == "Erf")
    node.op_type, node.name = "NoSuchOp", "/bad/node"
    onnx.save(model, str(tmp_path / "bad.onnx"))
    with pytest.raises(EngineBuildError) as info:
        NetworkFromOnnx(InlinedOnnx(tmp_path / "bad.onnx"))()
    message = str(info.value)
    assert "\n" not in message and message.startswith("TensorRT 1.7") and "cannot parse bad.onnx" in message
    assert "NoSuchOp" in message and "/bad/node" in message
