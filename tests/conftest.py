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
def sst2_dir() -> Path:
    """The SST-2 data shipped beside the project (../shared/data/sst2)."""
    from acc.modeling.data import default_data_dir

    return default_data_dir()


@pytest.fixture(scope="session")
def tiny_export_bundle(tiny_checkpoint: Path, sst2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real acc-export bundle (dense, s1.5, adjustable) of ``tiny_checkpoint``, via ``main_export``, untimed."""
    from acc.exporter import ExportOptions, main_export

    options = ExportOptions(model=str(tiny_checkpoint), speedups=(1.5,), output=tmp_path_factory.mktemp("export") / "tiny",
                            data_dir=sst2_dir, max_examples=8, validate_grid="none", bench=False, progress=False)  # fmt: skip
    return main_export(options).bundle
