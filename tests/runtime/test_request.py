"""runtime/request.py: one list of request options for Runtime.predict/choose and DynamicBatcher (and acc-serve)."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from acc.profiles import AccError, DataError
from acc.runtime import DynamicBatcher, RequestOptionError, RequestOptions, Runtime
from acc.runtime.request import OPTION_NAMES

TEXTS = ["a gripping, beautifully shot film", "dull."]


@pytest.fixture(scope="module")
def runtime(tiny_export_bundle: Path) -> Runtime:
    return Runtime.load(tiny_export_bundle, device="cpu", threads=1)


def test_of_applies_keywords_over_options() -> None:
    assert RequestOptions.of() == RequestOptions()
    assert RequestOptions.of(speedup=3.0) == RequestOptions(speedup=3.0)
    base = RequestOptions(min_accuracy=0.8, best_effort=True)
    assert RequestOptions.of(base, best_effort=False) == RequestOptions(min_accuracy=0.8)
    assert RequestOptions.of(base) is base
    assert not RequestOptions(truncate=False, best_effort=True).constrained
    assert all(RequestOptions(**{name: 1.0}).constrained for name in ("speedup", "latency_budget_ms", "min_accuracy"))
    assert set(RequestOptions(speedup=2.0).policy_kwargs()) == set(OPTION_NAMES) - {"truncate"}


def test_unknown_options_are_one_line_naming_the_valid_ones() -> None:
    names = r"speedup, latency_budget_ms, min_accuracy, best_effort, truncate"
    with pytest.raises(RequestOptionError, match=rf"unknown request options 'budget', 'sped'; the options are {names}"):
        RequestOptions.of(sped=2.0, budget=3)
    with pytest.raises(RequestOptionError, match="options must be a RequestOptions, got dict"):
        RequestOptions.of({"speedup": 2.0})  # type: ignore[arg-type]
    assert issubclass(RequestOptionError, DataError) and issubclass(RequestOptionError, TypeError)
    assert issubclass(RequestOptionError, AccError)


def test_runtime_and_batcher_take_options_or_keywords(runtime: Runtime) -> None:
    by_keyword = runtime.predict(TEXTS, speedup=1.5)
    by_record = runtime.predict(TEXTS, RequestOptions(speedup=1.5))
    assert by_record.profile == by_keyword.profile == "s1.5" and by_record.reason == by_keyword.reason
    np.testing.assert_array_equal(by_record.logits, by_keyword.logits)
    assert runtime.choose(RequestOptions(speedup=1.5), batch=2, seq_len=8) == runtime.choose(speedup=1.5)
    with pytest.raises(TypeError, match="unknown request option 'speed'"):
        runtime.predict(TEXTS, speed=1.5)
    with DynamicBatcher(runtime, max_wait_ms=0) as batcher:
        assert batcher.predict(TEXTS, RequestOptions(speedup=1.5), timeout=30).profile == "s1.5"
        assert batcher.predict(TEXTS, speedup=1.5, timeout=30).profile == "s1.5"


def test_the_option_list_lives_in_one_place() -> None:
    """No entry point re-lists the option keywords (they would drift), and acc-serve's body uses the same names."""
    entry_points = [Runtime.predict, Runtime.predict_batch, Runtime.apredict, Runtime.choose, DynamicBatcher.submit,
                    DynamicBatcher.predict, DynamicBatcher.apredict]  # fmt: skip
    for function in entry_points:
        parameters = inspect.signature(function).parameters
        assert not set(parameters) & set(OPTION_NAMES), function.__qualname__
        assert "options" in parameters and "kwargs" in parameters, function.__qualname__
    schema = pytest.importorskip("acc.runtime.server_schema", reason="the [serve] extra is not installed")
    body = set(schema.PredictRequest.model_fields) - {"text", "texts"}
    assert body == set(OPTION_NAMES) - {"truncate"}  # truncate is the server's --on-overlength, not per request


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"speedup": "3"}, r"speedup must be a number, got str '3'; pass e.g. speedup=3.0"),
        ({"latency_budget_ms": True}, "latency_budget_ms must be a number, got bool"),
        ({"min_accuracy": [0.8]}, "min_accuracy must be a number, got list"),
        ({"best_effort": "yes"}, "best_effort must be True or False, got str"),
        ({"truncate": 0}, "truncate must be True or False, got int"),
    ],
)
def test_option_types_are_checked_and_named(kwargs: dict, message: str) -> None:  # issue #20 item 10
    with pytest.raises(RequestOptionError, match=message):
        RequestOptions.of(**kwargs)
