"""The Triton repository's text front end (exporter/triton_text.py): the Python-backend tokenizer's ``execute`` run with
``triton_python_backend_utils`` (the mock package on PyPI), configs parsed with Triton's proto, ensemble wiring
checked against the member configs, and tokenizer → ONNX model equal to ``Runtime.predict``."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from acc.exporter._triton_schema import parse_model_config
from acc.exporter.triton import (
    TritonOptions,
    TritonRepository,
    check_repository,
    write_triton_repository,
)
from acc.exporter.triton_text import check_ensemble
from acc.profiles import ExportError
from acc.runtime import Runtime

pb_utils = pytest.importorskip("triton_python_backend_utils",
                               reason="pip install triton-python-backend-mock-utils (dev extra)")  # fmt: skip
ort = pytest.importorskip("onnxruntime")

TEXTS = ["a gripping, beautifully shot film", "dull.", "the plot never quite comes together , but the cast is great"]


@pytest.fixture(scope="module")
def repository(tiny_export_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> TritonRepository:
    options = TritonOptions(max_batch=8, kind="cpu")
    return write_triton_repository(tiny_export_bundle, tmp_path_factory.mktemp("triton-text") / "repo", options)


@pytest.fixture(scope="module")
def tokenizer_model(repository: TritonRepository) -> object:
    folder = repository.path / "tiny-bert_tokenizer"
    spec = importlib.util.spec_from_file_location("acc_triton_tokenizer_model", folder / "1" / "model.py")
    module: ModuleType = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    model = module.TritonPythonModel()
    model.initialize({"model_repository": str(folder), "model_version": "1", "model_name": folder.name})
    return model


def _tokenize(model: object, texts: list[str]) -> dict[str, np.ndarray]:
    request = pb_utils.InferenceRequest(inputs=[pb_utils.Tensor("TEXT", np.array([[t.encode()] for t in texts],
                                                                                 dtype=object))])  # fmt: skip
    (response,) = model.execute([request])  # type: ignore[attr-defined]
    return {name: pb_utils.get_output_tensor_by_name(response, name).as_numpy()
            for name in ("input_ids", "attention_mask", "token_type_ids")}  # fmt: skip


def test_tokenizer_execute_matches_the_runtime_encoder(tokenizer_model: object, tiny_export_bundle: Path) -> None:
    runtime = Runtime.load(tiny_export_bundle, device="cpu", threads=1)
    tokens = _tokenize(tokenizer_model, TEXTS)
    expected = runtime.encoder.encode(TEXTS).feeds()
    for name, value in expected.items():
        assert tokens[name].dtype == np.int64
        np.testing.assert_array_equal(tokens[name], value, err_msg=name)
    long = _tokenize(tokenizer_model, ["word " * 600])["input_ids"]
    assert long.shape == (1, 512) and long[0, -1] == runtime.encoder.sep_id  # truncated like the runtime
    with pytest.raises(pb_utils.TritonModelException) as caught:
        _tokenize(tokenizer_model, ["fine", " "])
    assert caught.value.message == "text 1 is empty; send non-empty texts"


@pytest.mark.parametrize(("model", "profile"), [("tiny-bert_s1_5", "s1.5"), ("tiny-bert_dense", "dense"),
                                                 ("tiny-bert_adjustable", "s1.5")])  # fmt: skip
def test_tokenizer_then_model_equals_runtime_predict(tokenizer_model: object, repository: TritonRepository,
                                                     tiny_export_bundle: Path, model: str, profile: str) -> None:  # fmt: skip
    """What the ensemble does, step by step: the tokenizer's outputs fed to the member's ``1/model.onnx``."""
    runtime = Runtime.load(tiny_export_bundle, device="cpu", threads=1)
    feeds = _tokenize(tokenizer_model, TEXTS)
    session = ort.InferenceSession(
        str(repository.path / model / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    index = json.loads((repository.path / "acc_triton.json").read_text())
    if model.endswith("adjustable"):
        ratios = next(m["keep_ratios"] for m in index["models"] if m["profile"] == profile)
        feeds["keep_ratios"] = np.asarray(ratios, dtype=np.float32)
    logits = session.run(["logits"], feeds)[0]
    expected = runtime.predict(TEXTS, speedup=runtime.manifest.profile(profile).target_speedup)
    np.testing.assert_allclose(logits, expected.logits, atol=1e-5)
    graph_profile = "adjustable" if model.endswith("adjustable") else profile
    assert index["text"]["ensembles"][graph_profile] == model.replace("tiny-bert_", "tiny-bert_text_")
    assert index["text"]["tokenizer"] == "tiny-bert_tokenizer" and index["text"]["input"] == "TEXT"


def test_ensemble_configs_parse_and_wire_to_their_members(repository: TritonRepository) -> None:
    root = repository.path
    tokenizer = parse_model_config((root / "tiny-bert_tokenizer" / "config.pbtxt").read_text())
    assert tokenizer.backend == "python" and tokenizer.max_batch_size == 8
    assert [t.name for t in tokenizer.output] == ["input_ids", "attention_mask", "token_type_ids"]
    for name, batch, inputs in (("tiny-bert_text_s1_5", 8, ["TEXT"]), ("tiny-bert_text_adjustable", 0,
                                                                        ["TEXT", "keep_ratios"])):  # fmt: skip
        config = parse_model_config((root / name / "config.pbtxt").read_text())
        assert config.platform == "ensemble" and config.max_batch_size == batch
        assert [t.name for t in config.input] == inputs and [t.name for t in config.output] == ["logits"]
        assert [s.model_name for s in config.ensemble_scheduling.step] == ["tiny-bert_tokenizer",
                                                                           name.replace("_text", "")]  # fmt: skip
        assert check_ensemble(root, name) == []
        assert (root / name / "1").is_dir()


@pytest.mark.parametrize(("edit", "needle"), [
    (('value: "input_ids" }\n      output_map', 'value: "ids" }\n      output_map'), "reads 'input_ids', which nothing"),
    (('model_name: "tiny-bert_s1_5"', 'model_name: "tiny-bert_s9"'), "step model 'tiny-bert_s9' is not in"),
    (('key: "token_type_ids" value: "token_type_ids" }\n      output_map { key: "logits"',
      'key: "segment_ids" value: "token_type_ids" }\n      output_map { key: "logits"'), "has no input 'segment_ids'"),
    (("max_batch_size: 8", "max_batch_size: 16"), "max_batch_size 16 exceeds tiny-bert_tokenizer's 8"),
    (("data_type: TYPE_STRING", "data_type: TYPE_INT64"), "tiny-bert_tokenizer.TEXT is TYPE_STRING, fed TYPE_INT64"),
    (("dims: [ 1 ]", "dims: [ 1, 1 ]"), "has shape [-1, 1], fed shape [-1, 1, 1]"),
])  # fmt: skip
def test_broken_ensemble_wiring_is_refused(repository: TritonRepository, tmp_path: Path, edit: tuple[str, str],
                                           needle: str) -> None:  # fmt: skip
    broken = Path(shutil.copytree(repository.path, tmp_path / "repo", copy_function=shutil.copy))
    config = broken / "tiny-bert_text_s1_5" / "config.pbtxt"
    text = config.read_text()
    assert edit[0] in text, text
    config.write_text(text.replace(edit[0], edit[1], 1))
    assert any(needle in problem for problem in check_ensemble(broken, "tiny-bert_text_s1_5")), \
        check_ensemble(broken, "tiny-bert_text_s1_5")  # fmt: skip
    with pytest.raises(ExportError, match="would not load: "):
        check_repository(broken)


def test_client_example_builds_a_v2_request(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "triton_text_client.py"
    spec = importlib.util.spec_from_file_location("triton_text_client", example)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    inputs = module.text_inputs(TEXTS)
    assert inputs[0].name() == "TEXT" and inputs[0].datatype() == "BYTES" and inputs[0].shape() == [3, 1]
    probabilities = module.softmax(np.array([[0.0, 0.0], [2.0, 0.0]]))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[1, 0] > 0.88
