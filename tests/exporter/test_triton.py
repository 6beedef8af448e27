"""exporter/triton.py: a Triton model repository from a real bundle, parsed with Triton's schema, run in ORT."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from acc.exporter import triton
from acc.exporter._triton_schema import parse_model_config
from acc.exporter.triton import (
    TritonOptions,
    TritonRepository,
    check_repository,
    dims_problem,
    model_name,
    write_triton_repository,
)
from acc.profiles import ExportError, profile_for_speedup
from acc.runtime import Runtime

ort = pytest.importorskip("onnxruntime")

TEXTS = ["a gripping, beautifully shot film", "dull.", "the plot never quite comes together , but the cast is great"]
ORT_TYPES = {"tensor(int64)": "TYPE_INT64", "tensor(float)": "TYPE_FP32"}
MODELS = ["tiny-bert_adjustable", "tiny-bert_dense", "tiny-bert_s1_5"]
TEXT_MODELS = ["tiny-bert_text_adjustable", "tiny-bert_text_dense", "tiny-bert_text_s1_5", "tiny-bert_tokenizer"]
ALL_MODELS = sorted(MODELS + TEXT_MODELS)  # the text front end: tests/exporter/test_triton_text.py


@pytest.fixture(scope="module")
def repository(tiny_export_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> TritonRepository:
    options = TritonOptions(max_batch=8, max_queue_delay_us=2000, kind="cpu", count=2)
    return write_triton_repository(tiny_export_bundle, tmp_path_factory.mktemp("triton") / "repo", options)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_model_folder_per_graph_with_its_weights(repository: TritonRepository, tiny_export_bundle: Path) -> None:
    root = repository.path
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ALL_MODELS
    assert sorted(m.name for m in repository.models) == MODELS
    assert {p.name for p in root.iterdir() if p.is_file()} == {"README.md", "acc_triton.json", "tokenizer.json"}
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]  # no staging dir left behind
    graphs = {"tiny-bert_dense": "dense", "tiny-bert_s1_5": "s1.5", "tiny-bert_adjustable": "adjustable"}
    for name, graph in graphs.items():
        folder = root / name
        assert sorted(p.name for p in folder.iterdir()) == ["1", "config.pbtxt", "labels.txt"]
        assert sorted(p.name for p in (folder / "1").iterdir()) == ["model.onnx", "weights.bin"]
        copied = onnx.load(str(folder / "1" / "model.onnx"), load_external_data=False)
        original = onnx.load(str(tiny_export_bundle / "graphs" / f"{graph}.onnx"), load_external_data=False)
        assert copied.graph.node == original.graph.node and copied.graph.initializer == original.graph.initializer
        assert copied.functions == original.functions and copied.graph.input == original.graph.input
        logits = next(o for o in copied.graph.output if o.name == "logits").type.tensor_type.shape.dim
        assert [d.dim_param or d.dim_value for d in logits] == ["batch", 2]  # pinned as ONNX Runtime infers it
        assert (folder / "labels.txt").read_text() == "negative\npositive\n"
    weights = [root / name / "1" / "weights.bin" for name in MODELS]
    assert len({os.stat(w).st_ino for w in weights}) == 1  # hard links: the weights cost no extra disk here
    assert _sha(weights[0]) == _sha(tiny_export_bundle / "graphs" / "weights.bin")
    readme = (root / "README.md").read_text()
    assert "| `tiny-bert_s1_5` | s1.5 | 1.5x |" in readme and "Triton itself was not run" in readme
    assert model_name("bert-sst2", "s4.8") == "bert-sst2_s4_8"


def test_configs_parse_with_tritons_schema_and_match_the_ort_session(repository: TritonRepository) -> None:
    """Checked against ONNX Runtime's own view of each graph (not the writer's): what Triton's backend compares."""
    for model in repository.models:
        folder = repository.path / model.name
        config = parse_model_config((folder / "config.pbtxt").read_text(), model.name)
        session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
        batched = model.profile != "adjustable"
        assert config.name == model.name and config.platform == "onnxruntime_onnx"
        assert config.max_batch_size == (8 if batched else 0)
        assert config.HasField("dynamic_batching") == batched
        if batched:
            assert config.dynamic_batching.max_queue_delay_microseconds == 2000
        group = config.instance_group[0]
        assert (group.count, type(group).Kind.Name(group.kind)) == (2, "KIND_CPU")
        for declared, actual in ((config.input, session.get_inputs()), (config.output, session.get_outputs())):
            assert [t.name for t in declared] == [t.name for t in actual]
            for tensor, arg in zip(declared, actual):
                shape = [d if isinstance(d, int) else -1 for d in arg.shape]
                assert list(tensor.dims) == (shape[1:] if batched else shape), (model.name, tensor.name)
                assert config.DESCRIPTOR.file.enum_types_by_name["DataType"].values_by_number[
                    tensor.data_type].name == ORT_TYPES[arg.type]  # fmt: skip
        assert [o.label_filename for o in config.output if o.name == "logits"] == ["labels.txt"]
        if not batched:
            assert [list(t.dims) for t in config.input if t.name == "keep_ratios"] == [[2]]  # 2 layers
    assert check_repository(repository.path) == ALL_MODELS


def test_every_model_runs_from_its_version_folder_like_the_runtime(
    repository: TritonRepository, tiny_export_bundle: Path, tmp_path: Path
) -> None:
    moved = Path(shutil.copytree(repository.path, tmp_path / "moved"))  # weight paths must be relative
    runtime = Runtime.load(tiny_export_bundle, device="cpu", threads=1)
    batch = runtime.encoder.encode(TEXTS)
    runs = [(m.name, m.target_speedup, None) for m in repository.models if m.target_speedup is not None]
    shape = runtime.manifest.model.shape
    runs += [("tiny-bert_adjustable", s, profile_for_speedup(shape, s, 64).keep_ratios) for s in (1.5, 1.7)]
    for name, speedup, ratios in runs:
        session = ort.InferenceSession(str(moved / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
        feeds = batch.feeds()
        if ratios is not None:
            feeds["keep_ratios"] = np.asarray(runtime.adhoc.get(speedup).keep_ratios, dtype=np.float32)
        logits = session.run(["logits"], feeds)[0]
        np.testing.assert_allclose(logits, runtime.predict(TEXTS, speedup=speedup).logits, atol=1e-5, rtol=0)


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, count))


MUTATIONS: list[tuple[str, Callable[[Path], None], str]] = [
    ("input type", lambda r: _edit(r / "tiny-bert_dense/config.pbtxt", "TYPE_INT64", "TYPE_INT32"),
     "tiny-bert_dense: input 'input_ids' is TYPE_INT32 in the config, TYPE_INT64 in the graph"),
    ("output dims", lambda r: _edit(r / "tiny-bert_dense/config.pbtxt", "dims: [ 2 ]", "dims: [ 3 ]"),
     "output 'logits': graph shape [-1, 2] does not match config dims [3] after the batch axis"),
    ("unknown field", lambda r: _edit(r / "tiny-bert_s1_5/config.pbtxt", "max_batch_size", "max_batch"),
     "tiny-bert_s1_5/config.pbtxt is not a valid Triton model config"),
    ("bad enum", lambda r: _edit(r / "tiny-bert_s1_5/config.pbtxt", "KIND_CPU", "KIND_CPUS"),
     'has no value named KIND_CPUS'),
    ("missing weights", lambda r: (r / "tiny-bert_s1_5/1/weights.bin").unlink(),
     "tiny-bert_s1_5: external data 1/weights.bin is missing"),
    ("missing input", lambda r: _edit(r / "tiny-bert_adjustable/config.pbtxt", 'name: "keep_ratios"', 'name: "ratios"'),
     "tiny-bert_adjustable: input 'ratios' is not in the graph"),
    ("batching without batch",
     lambda r: _edit(r / "tiny-bert_dense/config.pbtxt", "max_batch_size: 8", "max_batch_size: 0"),
     "dynamic_batching needs max_batch_size > 0"),
    ("wrong name", lambda r: _edit(r / "tiny-bert_dense/config.pbtxt", 'name: "tiny-bert_dense"', 'name: "dense"'),
     "config names model 'dense'"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "mutate", "needle"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_check_repository_reports_what_triton_would_refuse(
    repository: TritonRepository, tmp_path: Path, case: str, mutate: Callable[[Path], None], needle: str
) -> None:
    def copy(source: str, destination: str) -> None:  # link the weights (never edited), copy the rest
        (os.link if source.endswith(".bin") else shutil.copy2)(source, destination)

    broken = Path(shutil.copytree(repository.path, tmp_path / "repo", copy_function=copy))
    mutate(broken)
    with pytest.raises(ExportError, match="would not load: ") as caught:
        check_repository(broken)
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def test_dims_rule_is_tritons() -> None:
    assert dims_problem((-1, -1), (-1,), 8, exact=False) is None
    assert dims_problem((-1, 2), (2,), 8, exact=True) is None
    assert dims_problem((-1, -1), (2,), 8, exact=False) is None  # inputs: a dynamic graph axis takes any value
    assert "does not match" in dims_problem((-1, -1), (2,), 8, exact=True)  # outputs: exact
    assert "dynamic first axis" in dims_problem((4, 2), (2,), 8, exact=True)
    assert dims_problem((6,), (6,), 0, exact=False) is None
    assert "does not match" in dims_problem((6,), (-1, 6), 0, exact=False)


def test_written_atomically_and_never_over_an_existing_one(
    tiny_export_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "repo"
    target.mkdir()
    with pytest.raises(ExportError, match="already exists; pass --overwrite"):
        write_triton_repository(tiny_export_bundle, target)

    def refuse(path: Path) -> list[str]:
        raise ExportError("injected check failure")

    monkeypatch.setattr(triton, "check_repository", refuse)
    with pytest.raises(ExportError, match="injected"):
        write_triton_repository(tiny_export_bundle, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # neither the target nor a staging dir
    monkeypatch.undo()
    written = write_triton_repository(tiny_export_bundle, target, overwrite=True)
    assert check_repository(written.path) == ALL_MODELS
    with pytest.raises(ExportError, match="--triton-kind must be one of auto, cpu, gpu"):
        TritonOptions(kind="tpu").check()
