"""acc.runtime.hf through the real ``transformers.pipeline``: results equal ``Runtime.predict``, ACC options per call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
from transformers import pipeline

from acc.profiles import DataError
from acc.runtime import RequestOptionError, Runtime
from acc.runtime.hf import (
    AccModelForSequenceClassification,
    AccTextClassificationPipeline,
    load_tokenizer,
    with_options,
)

TEXTS = ["a gripping, beautifully shot film", "dull.", "the plot never quite comes together , but the cast is great"]


@pytest.fixture(scope="module")
def runtime(tiny_export_bundle: Path) -> Runtime:
    return Runtime.load(tiny_export_bundle, device="cpu", threads=1)


@pytest.fixture(scope="module")
def model(tiny_export_bundle: Path) -> AccModelForSequenceClassification:
    return AccModelForSequenceClassification.from_pretrained(tiny_export_bundle, device="cpu", threads=1)


def _expected(runtime: Runtime, texts: list[str], **options: float) -> list[dict]:
    out = []
    for text in texts:  # the pipeline runs one text per forward at its default batch_size=1
        prediction = runtime.predict([text], **options)
        out.append({"label": prediction.labels[0], "score": float(prediction.probabilities[0].max())})
    return out


def _same(results: list[dict], expected: list[dict]) -> None:
    assert [r["label"] for r in results] == [e["label"] for e in expected]
    np.testing.assert_allclose([r["score"] for r in results], [e["score"] for e in expected], atol=1e-6)


def test_stock_pipeline_equals_runtime_predict(model, tiny_export_bundle: Path, runtime: Runtime) -> None:
    classifier = pipeline("text-classification", model=model, tokenizer=load_tokenizer(tiny_export_bundle))
    _same(classifier(TEXTS), _expected(runtime, TEXTS))
    assert model.last_prediction is not None and model.last_prediction.profile == "dense"
    one = classifier(TEXTS[0])
    assert isinstance(one, list) and set(one[0]) == {"label", "score"}


def test_options_fixed_at_load_apply_in_the_stock_pipeline(tiny_export_bundle: Path, runtime: Runtime) -> None:
    fast = AccModelForSequenceClassification.from_pretrained(tiny_export_bundle, device="cpu", speedup=1.5)
    classifier = pipeline("text-classification", model=fast, tokenizer=load_tokenizer(tiny_export_bundle))
    _same(classifier(TEXTS), _expected(runtime, TEXTS, speedup=1.5))
    assert fast.last_prediction.profile == "s1.5"
    dense = with_options(fast, speedup=1.0)
    assert dense.runtime is fast.runtime and dense.options.speedup == 1.0


def test_acc_pipeline_takes_options_per_call(model, tiny_export_bundle: Path, runtime: Runtime) -> None:
    classifier = pipeline("text-classification", model=model, tokenizer=load_tokenizer(tiny_export_bundle),
                          pipeline_class=AccTextClassificationPipeline)  # fmt: skip
    assert isinstance(classifier, AccTextClassificationPipeline)
    _same(classifier(TEXTS, speedup=1.5), _expected(runtime, TEXTS, speedup=1.5))
    assert model.last_prediction.profile == "s1.5"
    _same(classifier(TEXTS, speedup=1.7), _expected(runtime, TEXTS, speedup=1.7))
    assert model.last_prediction.profile == "s1.7"  # ad hoc: the adjustable graph
    floor = classifier(TEXTS[:1], min_accuracy=0.0)
    assert model.last_prediction.profile == runtime.predict(TEXTS[:1], min_accuracy=0.0).profile != "dense"
    assert len(floor) == 1
    every = classifier(TEXTS[0], speedup=1.5, top_k=None)  # all labels, like any pipeline
    expected = runtime.predict([TEXTS[0]], speedup=1.5).probabilities[0]
    by_label = {item["label"]: item["score"] for item in every}
    np.testing.assert_allclose([by_label["negative"], by_label["positive"]], expected, atol=1e-6)
    batched = classifier(TEXTS, batch_size=3, speedup=1.5)  # one padded forward, as Runtime.predict pads
    whole = runtime.predict(TEXTS, speedup=1.5)
    assert [r["label"] for r in batched] == whole.labels
    np.testing.assert_allclose([r["score"] for r in batched], whole.probabilities.max(axis=1), atol=1e-6)


def test_bad_options_and_inputs_are_one_line_errors(model, tiny_export_bundle: Path) -> None:
    with pytest.raises(RequestOptionError, match="unknown request option 'speed'; the options are speedup"):
        AccModelForSequenceClassification.from_pretrained(tiny_export_bundle, device="cpu", speed=3)
    tokenizer = load_tokenizer(tiny_export_bundle)
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer,
                          pipeline_class=AccTextClassificationPipeline)  # fmt: skip
    with pytest.raises(Exception, match="speedup must be a number >= 1"):
        classifier(TEXTS[0], speedup=0.5)
    long_text = "word " * 600
    with pytest.raises(
        DataError, match=r"more than the model's max_length 512; call the pipeline with truncation=True"
    ):
        classifier(long_text)
    assert classifier(long_text, truncation=True, max_length=512)[0]["label"] in ("negative", "positive")


def test_acc_runtime_does_not_import_transformers() -> None:
    code = "import sys, acc.runtime; assert 'transformers' not in sys.modules and 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, timeout=120).returncode == 0
