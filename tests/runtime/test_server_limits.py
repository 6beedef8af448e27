"""One request must not starve acc-serve (issue #20 items 5, 7, 8): body size and read deadlines, one JSON error
shape on every route, counted; bounded metric labels; /openapi.json; graceful-shutdown deadline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the [serve] extra is not installed")
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_serve import SCRIPT, _wait_for_url

from acc.runtime import Runtime
from acc.runtime.server import create_app

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, max_wait_ms=1, max_body_bytes=4096)

    async def boom() -> None:  # a route mounted by someone else (KServe v2 lives in its own module)
        raise RuntimeError("mounted route failed\nsecond line")

    app.add_api_route("/mounted", boom, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _errors(client: TestClient) -> dict[tuple[str, str], float]:
    text = client.get("/metrics").text
    return {(s.labels["status"], s.labels["error"]): s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == "acc_request_errors_total"}  # fmt: skip


def _profiles(client: TestClient) -> set[str]:
    text = client.get("/metrics").text
    return {
        s.labels["profile"] for f in text_string_to_metric_families(text) for s in f.samples if "profile" in s.labels
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error", "words"),
    [
        ("post", "/predict", b'{"texts": ["' + b"a" * 5000 + b'"]}', 413, "PayloadTooLarge", "at most 4096"),
        ("post", "/predict", b'{"text": "\\ud800"}', 422, "DataError", "lone surrogate"),
        ("post", "/predict", b'{"text": "\xff\xfe"}', 400, "BadRequest", "not a valid JSON document"),
        ("post", "/predict", b"[" * 1500 + b"]" * 1500, 400, "BadRequest", "not a valid JSON document"),
        ("get", "/nowhere", None, 404, "NotFound", "GET /nowhere: Not Found"),
        ("get", "/predict", None, 405, "MethodNotAllowed", "Method Not Allowed"),
        ("get", "/mounted", None, 500, "RuntimeError", "internal error (mounted route failed)"),
    ],
)
def test_every_error_has_the_json_shape_and_is_counted(
    client: TestClient, method: str, path: str, body: bytes | None, status: int, error: str, words: str
) -> None:
    before = _errors(client).get((str(status), error), 0.0)
    response = client.request(method.upper(), path, content=body, headers=JSON)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error"] == error and words in payload["detail"] and "\n" not in payload["detail"]
    assert _errors(client)[(str(status), error)] == before + 1


def test_openapi_and_docs_work(client: TestClient) -> None:
    schema = client.get("/openapi.json")
    assert schema.status_code == 200 and "/predict" in schema.json()["paths"]
    assert client.get("/docs").status_code == 200


def test_ad_hoc_speedups_share_one_metric_label(client: TestClient) -> None:
    for speedup in (1.61, 1.62, 1.63):
        answer = client.post("/predict", json={"text": "fine", "speedup": speedup})
        assert answer.status_code == 200 and answer.json()["profile"] == f"s{speedup:g}"  # the answer names it
    profiles = _profiles(client)
    assert "adjustable" in profiles and not any(p.startswith("s1.6") for p in profiles)


# ------------------------------------------------------------------------------------------- over a real socket


@pytest.fixture(scope="module")
def server(tiny_export_bundle: Path) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    argv = [str(SCRIPT), str(tiny_export_bundle), "--port", "0", "--device", "cpu", "--threads", "1",
            "--header-timeout-s", "1", "--body-timeout-s", "2", "--shutdown-timeout-s", "2"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        yield process, _wait_for_url(process, lines), lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _connect(url: str) -> socket.socket:
    """A connection to the server ("listening on" is logged just before uvicorn calls listen(): retry briefly)."""
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + 15
    while True:
        try:
            return socket.create_connection((host, int(port)), timeout=15)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_slow_headers_get_408_and_the_connection_is_closed(server: tuple) -> None:
    _, url, _ = server
    sock = _connect(url)
    start = time.monotonic()
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")  # ... and never the rest of the head
    reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 408") and b'"error": "RequestTimeout"' in reply
    assert time.monotonic() - start < 8


def test_a_slow_body_gets_408(server: tuple) -> None:
    _, url, _ = server
    sock = _connect(url)
    sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                 b'{"text": ')  # fmt: skip
    reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 408") and b"not complete within 2 s" in reply


def test_shutdown_does_not_wait_for_clients_holding_half_sent_requests(server: tuple) -> None:
    process, url, lines = server
    holders = []
    for _ in range(20):
        sock = _connect(url)
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        holders.append(sock)
    time.sleep(0.3)
    start = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - start < 10, "".join(lines)
    for sock in holders:
        sock.close()


def test_wrong_digest_refuses_to_serve(tiny_export_bundle: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(SCRIPT), str(tiny_export_bundle), "--port", "0", "--device", "cpu", "--digest",
                           "sha256:" + "0" * 64], capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: bundle ") and "has digest sha256:" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_tokenisation_runs_off_the_event_loop(tiny_export_bundle: Path) -> None:
    import asyncio
    import threading

    from acc.runtime import DynamicBatcher

    runtime = Runtime.load(tiny_export_bundle, device="cpu", threads=1, preload=False)
    threads: list[threading.Thread] = []
    encode = runtime.encoder.encode

    def recording_encode(*args, **kwargs):
        threads.append(threading.current_thread())
        return encode(*args, **kwargs)

    runtime.encoder.encode = recording_encode  # type: ignore[method-assign]

    async def main() -> threading.Thread:
        with DynamicBatcher(runtime, max_wait_ms=1) as batcher:
            await batcher.apredict(["a fine film", "dull."])
        return threading.current_thread()

    loop_thread = asyncio.run(main())
    assert threads and all(thread is not loop_thread for thread in threads)  # never on the loop's own thread
