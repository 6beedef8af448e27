"""Shared fixtures: a tiny random BERT checkpoint (2 layers, hidden 64) with a real WordPiece tokenizer.

The tokenizer is the shipped base model's (its vocabulary is real), the weights are random and tiny so every
golden test runs in milliseconds on CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """One OpenMP thread for torch (read when torch first runs, so set before any test module imports it).

    The models here are tiny and gain nothing from intra-op threads, while on a shared 2-core machine OpenMP threads
    spinning against another process's made the suite over 2x slower (232 s vs 110 s). An explicit
    ``OMP_NUM_THREADS`` in the environment still wins; subprocess tests inherit the setting.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # Triton picks interpreter mode when it is first imported, and torch._dynamo (pulled in by transformers' GPT-2)
    # imports it early: without a GPU, choose the CPU interpreter now, or tests/modeling/kernels fails when run
    # after any GPT-2 test. Nothing else runs Triton on CPU.
    if not Path("/dev/nvidia0").exists():
        os.environ.setdefault("TRITON_INTERPRET", "1")


def _make_tiny_checkpoint(directory: Path, num_layers: int = 2) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from acc.modeling.checkpoint import AccConfig, LoadedModel, _minilm_dir, save_checkpoint
    from acc.modeling.model import AccBertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(_minilm_dir()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=512,
        num_labels=2,
    )
    hf = BertForSequenceClassification(config).eval()
    loaded = LoadedModel(AccBertForSequenceClassification(hf), tokenizer, AccConfig(max_length=128), "tiny")
    return save_checkpoint(loaded, directory)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a 2-layer, hidden-64 random ACC BERT checkpoint."""
    return _make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny4_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-layer variant, so profiles with several pruned layers can be exercised."""
    return _make_tiny_checkpoint(tmp_path_factory.mktemp("tiny4") / "tiny4-bert", num_layers=4)


@pytest.fixture(scope="session")
def ops_cache() -> Path:
    """Build cache of the custom-op tests (``build/ops-tests`` in the checkout; its deps/ holds the ORT headers)."""
    from acc.runtime.custom_ops import REPO

    return REPO / "build" / "ops-tests"


@pytest.fixture(scope="session")
def ops_library(ops_cache: Path) -> Path:
    """Path of the CPU build of cpp/ops (``acc_ort_ops``) for the current sources, built once per session.

    Built with ``acc.runtime.custom_ops.build_library`` (as ``acc-build-ops`` does), serialised by a lock file.
    No cmake or C++ compiler: skipped with the reason. Headers that cannot be fetched: the tests fail with the reason.
    """
    import fcntl

    from acc.runtime.custom_ops import CustomOpsError, build_library

    ops_cache.mkdir(parents=True, exist_ok=True)
    with open(ops_cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return build_library(cuda=False, cache_dir=ops_cache)
        except CustomOpsError as exc:
            if "not installed" in str(exc) or "no C++17 compiler" in str(exc):
                pytest.skip(f"custom-op library not buildable here: {exc}")
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def sst2_dir() -> Path:
    """The SST-2 folder the package reads (the shipped copy unless ACC_DATA_DIR says otherwise)."""
    from acc.modeling.data import default_data_dir

    return default_data_dir()


@pytest.fixture(scope="session")
def tiny_export_bundle(tiny_checkpoint: Path, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real acc-export bundle (dense, s1.5, adjustable) of ``tiny_checkpoint``, via ``main_export``, untimed."""
    from acc.exporter import ExportOptions, main_export

    options = ExportOptions(model=str(tiny_checkpoint), speedups=(1.5,), output=tmp_path_factory.mktemp("export") / "tiny",
                            data_dir=sst2_dir, max_examples=8, validate_grid="none", bench=False, progress=False)  # fmt: skip
    return main_export(options).bundle


@pytest.fixture(scope="session")
def tiny_fp16_bundle(tiny_checkpoint: Path, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_export_bundle`` exported with ``--precision fp32,fp16,fp16-all``: every graph also in both fp16 variants."""
    from acc.exporter import ExportOptions, main_export

    options = ExportOptions(model=str(tiny_checkpoint), speedups=(1.5,), output=tmp_path_factory.mktemp("fp16") / "tiny",
                            data_dir=sst2_dir, max_examples=8, validate_grid="none", bench=False, progress=False,
                            threads=1, precision=("fp32", "fp16", "fp16-all"))  # fmt: skip
    return main_export(options).bundle


@pytest.fixture(scope="session")
def tiny_t5_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random ACC T5 (3 encoder + 2 decoder layers, d_model 32; see tests/tiny_t5.py)."""
    from tiny_t5 import make_tiny_t5

    return make_tiny_t5(tmp_path_factory.mktemp("tiny-t5") / "tiny-t5")


@pytest.fixture(scope="session")
def tiny_t5_bundle(tiny_t5_checkpoint: Path, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real T5 bundle of ``tiny_t5_checkpoint`` (dense, s1.5, s2, adjustable + decoder), validated on the fast grid."""
    from acc.exporter import ExportOptions, main_export

    options = ExportOptions(model=str(tiny_t5_checkpoint), speedups=(1.5, 2.0), output=tmp_path_factory.mktemp("t5") / "t5",
                            data_dir=sst2_dir, max_examples=16, bench_batches=(1,), bench_seqs=(16,), bench_iters=2,
                            threads=1, progress=False)  # fmt: skip
    return main_export(options).bundle


@pytest.fixture(scope="session")
def tiny_gpt2_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a 3-layer, hidden-32 random GPT-2 checkpoint (family causal-lm) with a real BPE tokenizer."""
    from tiny_gpt2 import make_tiny_gpt2

    return make_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "tiny-gpt2")


@pytest.fixture(scope="session")
def tiny_gpt2_bundle(tiny_gpt2_checkpoint: Path, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A causal bundle of ``tiny_gpt2_checkpoint`` through ``main_export`` (family dispatch): dense, s1.5, s2,
    adjustable and decode graphs, validated on 24 SST-2 dev sentences, CPU latency at batch 1 x length 32."""
    from acc.exporter import ExportOptions, main_export

    options = ExportOptions(model=str(tiny_gpt2_checkpoint), speedups=(1.5, 2.0), output=tmp_path_factory.mktemp("gpt2b") / "g",
                            data_dir=sst2_dir, max_examples=24, validate_grid="none", bench_batches=(1,), bench_seqs=(32,),
                            bench_iters=2, threads=1, progress=False)  # fmt: skip
    return main_export(options).bundle
