"""acc-calibrate BUNDLE: the latency table measured on this machine and written into the manifest; one-line errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from acc.tools import calibrate as calibrate_tool


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_calibrate_writes_the_latency_table(
    tiny_export_bundle: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from acc.runtime import cpu_name, read_manifest

    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    monkeypatch.chdir(tmp_path)  # the benchmark would write ./benchmarks/results; calibration writes nothing there
    argv = [str(bundle), "--device", "cpu", "--batches", "1", "--seqs", "8,16", "--iters", "3", "--warmup", "1",
            "--threads", "1", "--quiet"]  # fmt: skip
    assert calibrate_tool.main(argv) == 0
    stdout = capsys.readouterr().out
    assert f"wrote 4 latency rows into {bundle / 'manifest.json'}" in stdout and "s1.5" in stdout
    rows = read_manifest(bundle, verify=True).tables.latency
    assert sorted((r.profile, r.seq) for r in rows) == [("dense", 8), ("dense", 16), ("s1.5", 8), ("s1.5", 16)]
    assert {(r.backend, r.device, r.batch, r.threads) for r in rows} == {("ort-cpu", cpu_name(), 1, 1)}
    assert not (tmp_path / "benchmarks").exists()  # no results files, no baseline


@pytest.mark.parametrize(("argv", "needle"), [
    (["/no/such/bundle"], "bundle /no/such/bundle does not exist"),
    (["/no/such/bundle", "--iters", "0"], "--iters must be >= 1"),
    (["/no/such/bundle", "--batches", "1,x"], "--batches takes comma-separated integers"),
])  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(argv: list[str], needle: str, capsys) -> None:
    assert calibrate_tool.main(argv) == 2
    assert needle in _one_error_line(capsys.readouterr().err)


def test_cuda_without_onnxruntime_gpu_names_the_flag(tiny_export_bundle: Path, capsys) -> None:
    from acc.runtime.session import available_ort_providers

    if "CUDAExecutionProvider" in available_ort_providers():
        pytest.skip("onnxruntime-gpu is installed")
    before = (tiny_export_bundle / "manifest.json").read_bytes()
    assert calibrate_tool.main([str(tiny_export_bundle), "--device", "cuda", "--quiet"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--device cuda needs onnxruntime-gpu" in line and "device='cuda'" not in line
    assert (tiny_export_bundle / "manifest.json").read_bytes() == before


def test_default_device_is_auto_like_acc_serve() -> None:
    """acc-bench --calibrate defaulted to cpu while acc-serve defaulted to auto (issue #16, item 5)."""
    from acc.tools import serve as serve_tool

    calibrate_args = calibrate_tool.build_parser().parse_args(["b"])
    serve_args = serve_tool.build_parser().parse_args(["b"])
    assert calibrate_args.device == serve_args.device == "auto"
