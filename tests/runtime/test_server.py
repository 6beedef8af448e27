"""runtime/server.py through fastapi.testclient (no socket): /predict, status codes, /health, /metrics."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from acc.runtime import LoadAdaptivePolicy, Runtime, update_manifest_tables
from acc.runtime.server import create_app, describe_validation_errors

TEXTS = ["a gripping, beautifully shot film", "dull."]
LONG = "word " * 600  # > max_length 512 tokens
JSON = {"content-type": "application/json"}


def _metrics(client: TestClient) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


# ------------------------------------------------------------------------------------------------------ predict


def test_predict_text_and_texts(client: TestClient, runtime: Runtime) -> None:
    one = client.post("/predict", json={"text": TEXTS[0]})
    many = client.post("/predict", json={"texts": TEXTS})
    assert one.status_code == 200 and many.status_code == 200, (one.text, many.text)
    body = many.json()
    expected = runtime.predict(TEXTS)
    assert body["labels"] == expected.labels and body["label_ids"] == expected.label_ids
    np.testing.assert_allclose(body["probabilities"], expected.probabilities, atol=1e-5)
    assert body["profile"] == "dense" and body["reason"] == expected.reason and body["backend"] == "ort-cpu"
    assert body["latency_ms"] > 0 and body["queue_ms"] >= 0 and body["batch_size"] == 2
    assert len(one.json()["labels"]) == 1


def test_speedup_picks_its_profile(client: TestClient) -> None:
    body = client.post("/predict", json={"texts": TEXTS, "speedup": 1.5}).json()
    assert body["profile"] == "s1.5" and "target speedup 1.5" in body["reason"]
    assert client.post("/predict", json={"text": TEXTS[0], "speedup": 1.7}).json()["profile"] == "s1.7"  # adjustable


@pytest.mark.parametrize(("request_kwargs", "status", "error", "needle"), [
    ({"json": {"text": ""}}, 422, "DataError", "text 0 is empty"),
    ({"json": {"texts": ["fine", " "]}}, 422, "DataError", "text 1 is empty"),
    ({"json": {"texts": []}}, 422, "ValidationError", "texts: List should have at least 1 item"),
    ({"json": {"texts": TEXTS * 3}}, 422, "DataError", "request has 6 texts, this server takes at most 4"),
    ({"json": {}}, 422, "ValidationError", "pass exactly one of 'text'"),
    ({"json": {"text": "a", "texts": ["b"]}}, 422, "ValidationError", "pass exactly one of 'text'"),
    ({"json": {"text": 5}}, 422, "ValidationError", "text: Input should be a valid string"),
    ({"json": {"text": "a", "budget": 5}}, 422, "ValidationError", "budget: Extra inputs are not permitted"),
    ({"json": [1, 2]}, 422, "ValidationError", "valid dictionary"),
    ({"json": {"text": "a", "speedup": 0.5}}, 422, "PolicyError", "speedup must be a number >= 1"),
    ({"json": {"text": "a", "speedup": 2, "min_accuracy": 0.5}}, 422, "PolicyError", "cannot be combined"),
    ({"json": {"text": "a", "latency_budget_ms": 5}}, 422, "PolicyError", "no latency rows for backend 'ort-cpu'"),
    ({"json": {"text": "a", "min_accuracy": 1.5}}, 422, "PolicyError", "min_accuracy is a fraction"),
    ({"content": b'{"text": "a",', "headers": JSON}, 400, "BadRequest", "request body is not valid JSON"),
    ({"content": b"", "headers": JSON}, 400, "BadRequest", "request body is empty"),
    ({"content": b'{"text": "a"}', "headers": {"content-type": "text/plain"}}, 400, "BadRequest", "not sent as JSON"),
])  # fmt: skip
def test_errors_are_one_line_with_the_right_status(
    client: TestClient, request_kwargs: dict, status: int, error: str, needle: str
) -> None:
    response = client.post("/predict", **request_kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and needle in body["detail"] and "\n" not in body["detail"]


def test_error_hints_spell_the_fix_as_request_json(client: TestClient) -> None:
    """A JSON client is told to send "best_effort": true, not Python's best_effort=True (issue #16, item 4)."""
    response = client.post("/predict", json={"text": "a", "min_accuracy": 0.99999})
    detail = response.json()["detail"]
    assert response.status_code == 422 and "no profile reaches accuracy 0.99999" in detail, detail
    assert 'lower "min_accuracy" or pass "best_effort": true' in detail and "=True" not in detail


def test_overlength_is_truncated_or_rejected(runtime: Runtime) -> None:
    with TestClient(create_app(runtime, on_overlength="truncate")) as client:
        assert client.post("/predict", json={"text": LONG}).status_code == 200
    with TestClient(create_app(runtime, on_overlength="reject")) as client:
        response = client.post("/predict", json={"texts": ["fine", LONG]})
        assert client.post("/predict", json={"text": "fine"}).status_code == 200
    assert response.status_code == 422
    assert "text 1 has 602 tokens, more than the model's max_length 512" in response.json()["detail"]


def test_latency_budget_uses_the_tables(runtime: Runtime, tiny_export_bundle: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path / "bundle"))
    key = {"backend": "ort-cpu", "device": runtime.device_name, "threads": 1}
    rows = [{**key, "profile": p, "batch": 1, "seq": s, "p50_ms": ms / 2, "p99_ms": ms}
            for p, ms in (("dense", 10.0), ("s1.5", 6.0)) for s in (8, 512)]  # fmt: skip
    update_manifest_tables(bundle, latency_rows=rows)
    with TestClient(create_app(Runtime.load(bundle, device="cpu", threads=1))) as client:
        loose = client.post("/predict", json={"text": "fine", "latency_budget_ms": 50})
        tight = client.post("/predict", json={"text": "fine", "latency_budget_ms": 8})
        impossible = client.post("/predict", json={"text": "fine", "latency_budget_ms": 1})
        best = client.post("/predict", json={"text": "fine", "latency_budget_ms": 1, "best_effort": True})
    assert loose.json()["profile"] == "dense" and tight.json()["profile"] == "s1.5"
    assert impossible.status_code == 422 and "no profile fits latency budget 1 ms" in impossible.json()["detail"]
    assert best.json()["profile"] == "s1.5" and best.json()["reason"].startswith("best effort")


def test_concurrent_requests_share_graph_runs(runtime: Runtime) -> None:
    app = create_app(runtime, max_wait_ms=100)

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://acc") as client:
            return await asyncio.gather(*(client.post("/predict", json={"text": t}) for t in TEXTS * 3))

    responses = asyncio.run(main())
    app.state.batcher.close()
    assert [r.status_code for r in responses] == [200] * 6
    assert max(r.json()["batch_size"] for r in responses) > 1
    assert app.state.batcher.stats().batches < 6


def test_auto_mode_follows_the_load_adaptive_policy(runtime: Runtime) -> None:
    policy = LoadAdaptivePolicy.from_catalog(runtime.manifest, high_water_ms=50, low_water_ms=10)
    with TestClient(create_app(runtime, max_wait_ms=1, adaptive=policy)) as client:
        auto = client.post("/predict", json={"text": "fine"}).json()
        pinned = client.post("/predict", json={"text": "fine", "speedup": 1.5}).json()
        health = client.get("/health").json()
        metrics = _metrics(client)
    assert auto["profile"] == "dense" and auto["reason"].startswith("auto: load-adaptive level 0")
    assert pinned["profile"] == "s1.5"
    assert health["auto_profile"] == "dense"
    assert metrics[("acc_auto_level", ())] == 0.0


def test_shutdown_closes_the_batcher(runtime: Runtime) -> None:
    app = create_app(runtime)
    with TestClient(app) as client:
        assert client.post("/predict", json={"text": "fine"}).status_code == 200
    response = TestClient(app).post("/predict", json={"text": "fine"})  # lifespan over: the batcher is closed
    assert response.status_code == 503 and response.json()["error"] == "BatcherClosedError"


# ----------------------------------------------------------------------------------------------- health, metrics


def test_health(client: TestClient, runtime: Runtime) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["profiles"] == ["dense", "s1.5"] and body["adjustable"] is True
    assert body["labels"] == list(runtime.labels) and body["backend"] == "ort-cpu"
    assert body["auto_profile"] is None and body["max_batch"] == 32 and body["on_overlength"] == "truncate"


def test_metrics_count_requests_errors_and_latency_per_profile(runtime: Runtime) -> None:
    with TestClient(create_app(runtime, max_wait_ms=1)) as client:
        for _ in range(3):
            client.post("/predict", json={"texts": TEXTS})
        client.post("/predict", json={"text": "fine", "speedup": 1.5})
        client.post("/predict", json={"text": ""})
        client.post("/predict", content=b"{", headers=JSON)
        metrics = _metrics(client)
    dense, pruned = (("profile", "dense"),), (("profile", "s1.5"),)
    assert metrics[("acc_requests_total", dense)] == 3 and metrics[("acc_requests_total", pruned)] == 1
    assert metrics[("acc_texts_total", dense)] == 6
    assert metrics[("acc_request_errors_total", (("error", "DataError"), ("status", "422")))] == 1
    assert metrics[("acc_request_errors_total", (("error", "BadRequest"), ("status", "400")))] == 1
    for name in ("acc_request_latency_seconds", "acc_inference_latency_seconds", "acc_queue_delay_seconds"):
        assert metrics[(f"{name}_count", dense)] == 3, name
        assert metrics[(f"{name}_bucket", (("le", "+Inf"), *dense))] == 3, name
        assert 0 < metrics[(f"{name}_sum", dense)] < 30, name
    assert metrics[("acc_batch_rows_count", ())] == 4
    model_info = [key for key in metrics if key[0] == "acc_model_info"]
    assert model_info and ("backend", "ort-cpu") in model_info[0][1]


# -------------------------------------------------------------------------------------------------- the factory


def test_factory_arguments_are_checked(runtime: Runtime) -> None:
    from acc.profiles import DataError

    with pytest.raises(DataError, match="on_overlength must be one of"):
        create_app(runtime, on_overlength="cut")
    with pytest.raises(DataError, match="max_texts must be >= 1"):
        create_app(runtime, max_texts=0)


def test_validation_errors_are_described_in_one_line() -> None:
    status, line = describe_validation_errors([
        {"type": "missing", "loc": ("body", "text"), "msg": "Field required"},
        {"type": "float_parsing", "loc": ("body", "speedup"), "msg": "Input should be a valid number"},
    ])  # fmt: skip
    assert status == 422 and line == "invalid request: text: Field required; speedup: Input should be a valid number"
    status, line = describe_validation_errors([{"type": "json_invalid", "loc": ("body", 7), "msg": "JSON decode error",
                                                "ctx": {"error": "Expecting value"}}])  # fmt: skip
    assert status == 400 and "Expecting value at character 7" in line
