"""AOTInductor packages on CPU: acc-aoti on a real bundle, AotiRunner vs the eager model, errors, the C++ example."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import AOTI_BATCH, AOTI_LENGTH, AOTI_PROFILE, AotiBundle

from acc.exporter.aoti import PACKAGE_FORMAT, export_aoti_package, validate_package
from acc.exporter.bundle import file_digest
from acc.modeling.checkpoint import load_model
from acc.profiles import ExportError, Profile
from acc.runtime.aoti import PACKAGE_FORMAT as RUNTIME_FORMAT
from acc.runtime.aoti import AotiPackageError, AotiRunner, PackageInfo
from acc.runtime.manifest import read_manifest

REPO = Path(__file__).resolve().parents[2]


def _profile(bundle: Path) -> Profile:
    return read_manifest(bundle, verify=False).profile(AOTI_PROFILE).profile


def _sst2_rows(checkpoint: Path, sst2_dir: Path, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The first ``count`` SST-2 dev sentences, tokenized by the checkpoint's tokenizer and cut to the package length."""
    from acc.modeling.data import load_sst2

    tokenizer = load_model(checkpoint).tokenizer
    split = load_sst2("dev", sst2_dir).head(count)
    enc = tokenizer(list(split.texts), truncation=True, max_length=AOTI_LENGTH, padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]


def test_acc_aoti_adds_hashed_validated_packages_to_the_bundle(aoti_bundle: AotiBundle) -> None:
    manifest = read_manifest(aoti_bundle.bundle, verify=True)  # every file, packages included, re-hashed
    data = json.loads((aoti_bundle.bundle / "manifest.json").read_text())
    (record,) = data["aoti"]
    assert record["path"] == f"aoti/{AOTI_PROFILE}_{AOTI_LENGTH}.pt2"
    assert record["path"] in manifest.files
    assert record["sha256"] == file_digest(aoti_bundle.package).sha256 == manifest.files[record["path"]].sha256
    assert (record["device"], record["dtype"], record["kernels"]) == ("cpu", "fp32", "torch")
    assert record["torch"] == torch.__version__ and record["seq_buckets"] == [AOTI_LENGTH]
    assert record["batch_range"] == list(AOTI_BATCH)
    assert record["keep_ratios"] == list(manifest.profile(AOTI_PROFILE).profile.keep_ratios)
    assert record["validation"]["label_agreement"] == 1.0 and record["validation"]["max_abs_diff"] < 1e-4
    assert [p.name for p in manifest.profiles] == ["dense", "s1.5"]  # the rest of the bundle is as it was
    assert f"wrote {aoti_bundle.package}" in aoti_bundle.cli_output
    assert not [p for p in aoti_bundle.bundle.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_package_metadata_names_what_it_was_built_for(aoti_bundle: AotiBundle) -> None:
    info = PackageInfo.read(aoti_bundle.package)
    assert RUNTIME_FORMAT == PACKAGE_FORMAT
    assert (info.profile, info.seq_len, info.batch_range, info.device) == (AOTI_PROFILE, AOTI_LENGTH, AOTI_BATCH, "cpu")
    assert info.labels == ("negative", "positive") and info.torch == torch.__version__
    assert info.keep_ratios == tuple(_profile(aoti_bundle.bundle).keep_ratios)


def test_runner_matches_the_eager_acc_model_on_sst2(aoti_bundle: AotiBundle, sst2_dir: Path) -> None:
    """20 sentences (more than the package's max batch of 8: chunked), shorter than the bucket (padded)."""
    ids, mask, types = _sst2_rows(aoti_bundle.checkpoint, sst2_dir, 20)
    assert ids.shape[1] < AOTI_LENGTH or bool((mask == 0).any())
    model = load_model(aoti_bundle.checkpoint).model
    with torch.inference_mode():
        want = model(ids, mask, types, keep_ratios=_profile(aoti_bundle.bundle).keep_ratios).logits.numpy()
    runner = AotiRunner(aoti_bundle.package)
    got = runner.predict(ids.numpy(), mask.numpy(), types.numpy())
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert (got.argmax(1) == want.argmax(1)).all()
    one = runner.predict(ids[:1], mask[:1])  # batch 1, token_type_ids defaulted
    np.testing.assert_allclose(one, want[:1], atol=1e-5, rtol=0)


def test_validation_catches_a_package_of_another_model(aoti_bundle: AotiBundle, tmp_path: Path) -> None:
    """The check export runs is not vacuous: the same package against a differently seeded model fails it."""
    from acc.modeling.model import AccBertForSequenceClassification

    model = load_model(aoti_bundle.checkpoint).model
    torch.manual_seed(1)
    other = AccBertForSequenceClassification(type(model.hf)(model.config).eval())
    _, max_diff, rows = validate_package(aoti_bundle.package, other, _profile(aoti_bundle.bundle),
                                         AOTI_LENGTH, AOTI_BATCH, torch.device("cpu"))  # fmt: skip
    assert rows >= 3 and max_diff > 1e-3
    same = validate_package(aoti_bundle.package, model, _profile(aoti_bundle.bundle), AOTI_LENGTH, AOTI_BATCH, "cpu")
    assert same[0] == 1.0 and same[1] < 1e-4


def _with_metadata(package: Path, target: Path, **changes: str | None) -> Path:
    """A copy of ``package`` whose stored metadata has ``changes`` (None deletes a key)."""
    with zipfile.ZipFile(package) as source, zipfile.ZipFile(target, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("wrapper_metadata.json"):
                meta = json.loads(data)
                for key, value in changes.items():
                    meta.pop(key, None) if value is None else meta.__setitem__(key, value)
                data = json.dumps(meta).encode()
            out.writestr(item, data)
    return target


def test_runner_errors_name_the_problem_and_the_fix(aoti_bundle: AotiBundle, tmp_path: Path) -> None:
    package = aoti_bundle.package
    with pytest.raises(AotiPackageError, match="does not exist"):
        AotiRunner(tmp_path / "missing.pt2")
    (tmp_path / "text.pt2").write_text("not a zip")
    with pytest.raises(AotiPackageError, match="cannot read AOTInductor package"):
        AotiRunner(tmp_path / "text.pt2")
    with pytest.raises(AotiPackageError, match="compiled for cpu, asked to run on cuda.*--device cuda"):
        AotiRunner(package, device="cuda")
    old = _with_metadata(package, tmp_path / "old.pt2", acc_torch="2.3.1+cu121")
    with pytest.raises(
        AotiPackageError, match=r"compiled with torch 2\.3\.1\+cu121, this is torch .*same torch release"
    ):
        AotiRunner(old)
    cuda = _with_metadata(package, tmp_path / "cuda.pt2", acc_device="cuda")
    if not torch.cuda.is_available():
        with pytest.raises(AotiPackageError, match="compiled for CUDA but this torch sees no GPU"):
            AotiRunner(cuda)
    foreign = _with_metadata(package, tmp_path / "foreign.pt2", acc_format=None)
    with pytest.raises(AotiPackageError, match="not an acc-deploy AOTInductor package"):
        AotiRunner(foreign)
    runner = AotiRunner(package)
    long = torch.ones((2, AOTI_LENGTH + 1), dtype=torch.long)
    with pytest.raises(AotiPackageError, match=f"exceed .*length {AOTI_LENGTH}; truncate"):
        runner.predict(long, long)
    with pytest.raises(AotiPackageError, match="dtype torch.float32; pass integer token ids"):
        runner.predict(np.ones((1, 4), dtype=np.float32), np.ones((1, 4), dtype=np.int64))


def test_export_rejects_bad_arguments_before_compiling(tiny_checkpoint: Path, tiny4_checkpoint: Path,
                                                       aoti_bundle: AotiBundle, tmp_path: Path) -> None:  # fmt: skip
    from acc.tools.aoti import main

    model = load_model(tiny_checkpoint).model
    profile = _profile(aoti_bundle.bundle)
    cases = [
        ({"device": "tpu"}, "built for cpu or cuda"),
        ({"dtype": "fp16"}, "dtype 'fp16' is not supported on cpu; pass fp32"),
        ({"kernels": "triton"}, "Triton kernels run on CUDA only"),
        ({"kernels": "cuda"}, "unknown kernels"),
        ({"batch_range": (4, 2)}, "batch range"),
        ({"seq_buckets": (4096,)}, r"must lie in \[2, 512\]"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ExportError, match=message):
            export_aoti_package(model, profile, tmp_path / "x.pt2", progress=False, **kwargs)
    with pytest.raises(ExportError, match="must end in .pt2"):
        export_aoti_package(model, profile, tmp_path / "x.so", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ExportError, match="--device cuda needs a CUDA build"):
            export_aoti_package(model, profile, tmp_path / "x.pt2", device="cuda", progress=False)
    assert not list(tmp_path.iterdir())
    code = main(
        [str(aoti_bundle.bundle), "--device", "cpu", "--model", str(tiny4_checkpoint), "-o", str(tmp_path / "o")]
    )
    assert code == 2 and not (tmp_path / "o").exists()  # 4-layer model for a 2-layer bundle: refused, nothing written
    assert main([str(aoti_bundle.bundle), "--device", "cpu", "--profiles", "s9", "-o", str(tmp_path / "o")]) == 2


def _cpp_tools() -> tuple[str, list[str]]:
    cmake = shutil.which("cmake")
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if cmake is None or compiler is None:
        pytest.skip("the C++ example needs cmake and a C++17 compiler (apt-get install cmake g++ ninja-build)")
    return cmake, ["-G", "Ninja"] if shutil.which("ninja") else []


def test_cpp_example_gives_the_python_logits(aoti_bundle: AotiBundle, sst2_dir: Path, tmp_path: Path) -> None:
    """examples/cpp/aoti built against this torch (about 20 s), run on the package: same labels and logits."""
    cmake, generator = _cpp_tools()
    build = REPO / "build" / "aoti-tests"  # kept between runs: the rebuild is incremental
    for command in ([cmake, "-S", str(REPO / "examples/cpp/aoti"), "-B", str(build), *generator,
                     f"-DPython3_EXECUTABLE={sys.executable}"], [cmake, "--build", str(build)]):  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    ids, mask, types = _sst2_rows(aoti_bundle.checkpoint, sst2_dir, 11)
    lines = [
        " ".join(str(int(t)) for t, m in zip(row, keep, strict=True) if m) for row, keep in zip(ids, mask, strict=True)
    ]
    (tmp_path / "ids.txt").write_text("\n".join(lines) + "\n")
    done = subprocess.run([str(build / "classify_aoti"), str(aoti_bundle.package), str(tmp_path / "ids.txt")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    want = AotiRunner(aoti_bundle.package).predict(ids, mask, types)
    labels = ("negative", "positive")
    assert [r[0] for r in rows] == [labels[i] for i in want.argmax(1)]
    np.testing.assert_allclose(np.array([[float(v) for v in r[1:]] for r in rows]), want, atol=1e-5, rtol=0)
    bad = subprocess.run([str(build / "classify_aoti"), str(tmp_path / "ids.txt")], capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("error: ")


@pytest.mark.gpu
def test_cuda_package_with_triton_kernels(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """On a GPU: an fp16 package whose ACC score and selection are the captured Triton kernels, validated."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from acc.modeling.kernels import triton_status
    from acc.profiles import profile_for_speedup

    if triton_status("cuda") is not None:
        pytest.skip(f"Triton cannot run: {triton_status('cuda')}")
    model = load_model(tiny_checkpoint).model
    profile = profile_for_speedup(model.shape, 1.5, 128, model.min_keep)
    (package,) = export_aoti_package(model, profile, tmp_path / "p.pt2", batch_range=(1, 8), seq_buckets=(64,),
                                     device="cuda", kernels="triton", progress=False)  # fmt: skip
    assert package.kernels == "triton" and package.label_agreement >= 0.99
    runner = AotiRunner(package.path)
    assert runner.info.kernels == "triton" and runner.device.type == "cuda"


@pytest.mark.slow
def test_acc_aoti_out_dir_leaves_the_bundle_untouched(
    tiny_export_bundle: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """``--output DIR``: packages and aoti.json in DIR, the bundle's files and manifest unchanged (one more compile)."""
    from acc.tools.aoti import main

    before = (tiny_export_bundle / "manifest.json").read_bytes()
    argv = [str(tiny_export_bundle), "--device", "cpu", "--profiles", "dense", "--seq-buckets", "16", "--batch-range",
            "2,4", "--output", str(tmp_path / "out"), "--model", str(tiny_checkpoint), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    index = json.loads((tmp_path / "out" / "aoti.json").read_text())
    (record,) = index["packages"]
    assert record["path"] == "aoti/dense_16.pt2" and record["batch_range"] == [2, 4]
    assert record["sha256"] == file_digest(tmp_path / "out" / record["path"]).sha256
    assert (tiny_export_bundle / "manifest.json").read_bytes() == before and not (tiny_export_bundle / "aoti").exists()
    runner = AotiRunner(tmp_path / "out" / record["path"])
    ids = torch.randint(1000, 2000, (1, 10))  # batch 1 < the package's minimum 2: padded, the extra row dropped
    model = load_model(tiny_checkpoint).model
    with torch.inference_mode():
        want = model(ids, torch.ones_like(ids)).logits.numpy()
    np.testing.assert_allclose(runner.predict(ids, torch.ones_like(ids)), want, atol=1e-5, rtol=0)
    assert main(argv) == 2  # exists now: refused without --overwrite


def test_runtime_serves_the_bundle_through_its_aoti_packages(aoti_bundle: AotiBundle, sst2_dir: Path) -> None:
    """``Runtime.load(backend="aoti")``: the same policy and answers as ONNX Runtime, the packages run the graph."""
    from acc.modeling.data import load_sst2
    from acc.profiles import DataError
    from acc.runtime import BackendError, Runtime

    sentences = list(load_sst2("dev", sst2_dir).head(80).texts)
    aoti = Runtime.load(aoti_bundle.bundle, device="cpu", backend="aoti")
    onnx = Runtime.load(aoti_bundle.bundle, device="cpu")
    fits = [t for t in sentences if aoti.encoder.encode([t]).seq_len <= AOTI_LENGTH]
    texts = fits[:12]
    assert aoti.backend == "aoti-cpu" and len(texts) == 12
    got = aoti.predict(texts, speedup=1.5)
    want = onnx.predict(texts, speedup=1.5)
    assert got.profile == want.profile == AOTI_PROFILE
    np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-4, rtol=0)
    assert got.labels == want.labels
    too_long = next(t for t in sentences if t not in fits)
    with pytest.raises(DataError, match=rf"exceed the largest AOTInductor bucket \({AOTI_LENGTH}\); build a larger"):
        aoti.predict([too_long], speedup=1.5)
    with pytest.raises(BackendError, match=r"no AOTInductor package for profile 'dense'.*acc-aoti --profiles dense"):
        aoti.predict(texts[:1], speedup=1.0)
    with pytest.raises(BackendError, match=r"packages for \['cpu'\], not cuda; build them with acc-aoti --device cuda"):
        Runtime.load(aoti_bundle.bundle, device="cuda", backend="aoti")
