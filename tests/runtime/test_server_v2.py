"""acc-serve's Open Inference Protocol (v2) and Hugging Face routes: tritonclient against a real server on loopback,
and the error forms through fastapi.testclient."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
from fastapi.testclient import TestClient
from test_serve import SCRIPT, _wait_for_url

from acc.runtime import Runtime

TEXTS = ["a gripping, beautifully shot film", "dull.", "the plot never quite comes together , but the cast is great"]
MODEL = "tiny-bert"


@pytest.fixture(scope="module")
def server_url(tiny_export_bundle: Path) -> Iterator[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    argv = [str(SCRIPT), str(tiny_export_bundle), "--host", "127.0.0.1", "--port", "0", "--device", "cpu",
            "--threads", "1", "--max-wait-ms", "2", "--no-verify"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        yield _wait_for_url(process, [])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def test_tritonclient_http_speaks_v2_to_acc_serve(server_url: str, runtime: Runtime) -> None:
    httpclient = pytest.importorskip("tritonclient.http", reason="pip install 'tritonclient[http]' (dev extra)")
    from tritonclient.utils import InferenceServerException

    triton = httpclient.InferenceServerClient(url=server_url.removeprefix("http://"))
    assert triton.is_server_live() and triton.is_server_ready() and triton.is_model_ready(MODEL)
    metadata = triton.get_model_metadata(MODEL)
    assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert [o["name"] for o in metadata["outputs"]] == ["label", "label_id", "score", "probabilities"]
    assert metadata["parameters"]["profiles"] == ["dense", "s1.5"]

    for binary in (True, False):  # the binary tensor extension (tritonclient's default) and plain JSON
        text = httpclient.InferInput("text", [len(TEXTS)], "BYTES")
        text.set_data_from_numpy(np.array(TEXTS, dtype=object), binary_data=binary)
        outputs = [httpclient.InferRequestedOutput(name, binary_data=False) for name in ("label", "probabilities")]
        result = triton.infer(MODEL, [text], outputs=outputs, request_id=f"req-{binary}",
                              parameters={"speedup": 1.5})  # fmt: skip
        expected = runtime.predict(TEXTS, speedup=1.5)
        assert [label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("label")] \
            == expected.labels  # fmt: skip
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected.probabilities, atol=1e-6)
        response = result.get_response()
        assert response["id"] == f"req-{binary}" and response["parameters"]["profile"] == "s1.5"

    text = httpclient.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([TEXTS[0]], dtype=object))
    by_name = triton.infer(MODEL, [text], parameters={"profile": "s1.5"})  # every output, binary asked for
    assert by_name.get_response()["parameters"]["profile"] == "s1.5"
    assert by_name.as_numpy("score")[0] == pytest.approx(float(runtime.predict([TEXTS[0]], speedup=1.5)
                                                               .probabilities[0].max()), abs=1e-6)  # fmt: skip
    with pytest.raises(InferenceServerException, match="unknown profile 's9'; this bundle has dense, s1.5"):
        triton.infer(MODEL, [text], parameters={"profile": "s9"})
    with pytest.raises(InferenceServerException, match="unknown model 'other'"):
        triton.get_model_metadata("other")


def test_hf_inputs_answer_like_the_pipeline(client: TestClient, runtime: Runtime) -> None:
    one = client.post("/", json={"inputs": TEXTS[0]}, headers={"X-Request-ID": "abc"})
    assert one.status_code == 200 and one.headers["x-request-id"] == "abc"
    expected = runtime.predict([TEXTS[0]])
    assert one.json() == [{"label": expected.labels[0], "score": pytest.approx(float(expected.probabilities[0].max()))}]
    many = client.post("/", json={"inputs": TEXTS, "parameters": {"speedup": 1.5}}).json()
    expected = runtime.predict(TEXTS, speedup=1.5)
    assert [row["label"] for row in many] == expected.labels
    every = client.post("/", json={"inputs": [TEXTS[1]], "parameters": {"top_k": None, "profile": "s1.5"}}).json()
    assert [item["label"] for item in every[0]] == sorted(runtime.labels, key=lambda label: -float(
        expected.probabilities[1][runtime.labels.index(label)]))  # fmt: skip
    assert sum(item["score"] for item in every[0]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(("path", "body", "status", "needle"), [
    ("/", {"texts": ["a"]}, 400, 'send {"inputs": "a text"}'),
    ("/", {"inputs": "a", "parameters": {"speed": 3}}, 400, "unknown parameter(s) 'speed'; the ACC parameters are"),
    ("/", {"inputs": "a", "parameters": {"top_k": 0}}, 400, "'top_k' must be a positive integer or null"),
    ("/", {"inputs": ["a"] * 5}, 400, "request has 5 texts, this server takes at most 4"),
    ("/v2/models/tiny-bert/infer", {"inputs": []}, 400, "send exactly one input"),
    ("/v2/models/tiny-bert/infer", {"inputs": [{"name": "ids", "datatype": "INT64", "shape": [1], "data": [1]}]},
     400, "input 'ids' of type 'INT64' is not served"),
    ("/v2/models/tiny-bert/infer", {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a"]}]},
     400, "has shape [2] but 1 elements"),
    ("/v2/models/tiny-bert/infer", {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [""]}]},
     400, "text 0 is empty"),
    ("/v2/models/tiny-bert/infer", {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}],
                                    "parameters": {"speedup": 0.5}}, 400, "speedup must be a number >= 1"),
    ("/v2/models/tiny-bert/infer", {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}],
                                    "parameters": {"speedup": "fast"}}, 400, "parameter 'speedup' must be a number"),
    ("/v2/models/tiny-bert/infer", {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}],
                                    "outputs": [{"name": "logits"}]}, 400, "unknown output(s) ['logits']"),
    ("/v2/models/tiny-bert/versions/2/infer", {}, 404, "has no version '2'"),
    ("/v2/models/nope/infer", {}, 404, "unknown model 'nope'; this server serves 'tiny-bert'"),
])  # fmt: skip
def test_errors_are_the_protocols_one_line_form(client: TestClient, path: str, body: dict, status: int,
                                                needle: str) -> None:  # fmt: skip
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"} and needle in response.json()["error"], response.json()


def test_v2_json_infer_echoes_id_and_keeps_request_order(client: TestClient, runtime: Runtime) -> None:
    body = {"id": "42", "inputs": [{"name": "text", "datatype": "BYTES", "shape": [3, 1], "data": [[t] for t in TEXTS]}],
            "outputs": [{"name": "label_id"}, {"name": "score"}]}  # fmt: skip
    answer = client.post("/v2/models/tiny-bert/versions/1/infer", json=body).json()
    expected = runtime.predict(TEXTS)
    assert answer["id"] == "42" and answer["model_name"] == MODEL and answer["model_version"] == "1"
    assert [o["name"] for o in answer["outputs"]] == ["label_id", "score"]
    assert answer["outputs"][0] == {"name": "label_id", "datatype": "INT64", "shape": [3], "data": expected.label_ids}
    assert answer["parameters"]["profile"] == "dense" and answer["parameters"]["reason"] == expected.reason
    assert client.get("/v2").json()["name"] == "acc-serve"
    assert client.get("/v2/health/ready").json() == {"ready": True}
