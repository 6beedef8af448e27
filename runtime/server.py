"""``create_app``: the FastAPI app of acc-serve over one ``Runtime`` — ``/predict``, ``/health``, ``/metrics``, and
the Open Inference Protocol (``/v2/...``) plus Hugging Face's ``POST /`` from ``acc.runtime.server_v2``.

An app factory (not a module-level app) so tests build one per bundle and drive it with ``fastapi.testclient``
without a socket, and so nothing is loaded at import time. Requests go through a ``DynamicBatcher``: concurrent
``/predict`` calls that resolve to the same profile share one graph run.

Status codes: 200 answered; 400 the body is not JSON (FastAPI says 422 for that, we do not: the client sent bytes,
not a wrong request); 422 a well-formed request that cannot be served — schema violations, an empty text, too many
texts, an over-length text with ``on_overlength="reject"``, an impossible constraint (``PolicyError``); 408 a
request head or body not sent in time, 413 a body over ``max_body_bytes`` (``acc.runtime.server_limits``); 404/405
unknown routes and methods; 503 the server is shutting down; 500 anything else. Every error body, from any route
(mounted ones too), is ``{"detail": one line, "error": class name}`` and is counted in ``acc_request_errors``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from acc.profiles import AccError, DataError, PolicyError

from .batching import BatcherClosedError, DynamicBatcher
from .hints import as_json
from .serve import OVERLENGTH
from .server_limits import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    BodyLimitMiddleware,
)
from .server_metrics import ServerMetrics
from .server_schema import ErrorResponse, PredictRequest, PredictResponse
from .server_v2 import v2_router

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .policy import LoadAdaptivePolicy
    from .runtime import Runtime

_STATUS = {PolicyError: 422, DataError: 422, BatcherClosedError: 503}
_ERRORS = {code: {"model": ErrorResponse} for code in (400, 408, 413, 422, 500, 503)}
_HTTP_NAMES = {404: "NotFound", 405: "MethodNotAllowed"}


def create_app(
    runtime: Runtime,
    *,
    max_batch: int = 32,
    max_wait_ms: float = 5.0,
    on_overlength: str = "truncate",
    max_texts: int = 256,
    adaptive: LoadAdaptivePolicy | None = None,
    batcher: DynamicBatcher | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    shutdown_timeout_s: float = 30.0,
) -> FastAPI:
    """The app serving ``runtime``. It owns the batcher it creates (or the one passed) and closes it on shutdown.

    ``on_overlength``: texts longer than the model's ``max_length`` are cut (``truncate``) or refused with 422
    (``reject``). ``max_texts``: most texts in one request. ``adaptive``: "auto" requests (no constraint) follow
    this load-adaptive policy; build it with ``LoadAdaptivePolicy.from_catalog(runtime.manifest, ...)``.
    ``max_body_bytes`` / ``body_timeout_s``: larger bodies get 413, bodies not complete in time 408.
    ``shutdown_timeout_s``: at shutdown, wait at most this long for the batcher's graph run in progress (a graph
    run cannot be interrupted; its worker thread is a daemon, so the process still exits).
    """
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException

    if on_overlength not in OVERLENGTH:
        raise DataError(f"on_overlength must be one of {list(OVERLENGTH)}, got {on_overlength!r}")
    if max_texts < 1:
        raise DataError(f"max_texts must be >= 1, got {max_texts}")
    if max_body_bytes < 1 or not body_timeout_s > 0:
        raise DataError(f"max_body_bytes must be >= 1 and body_timeout_s > 0, got {max_body_bytes} and "
                        f"{body_timeout_s}")  # fmt: skip
    batcher = batcher or DynamicBatcher(runtime, max_batch=max_batch, max_wait_ms=max_wait_ms, adaptive=adaptive)
    metrics = ServerMetrics(runtime.manifest.model.name, runtime.backend, runtime.device_name, batcher,
                            shipped=runtime.manifest.profile_names)  # fmt: skip
    truncate = on_overlength == "truncate"

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        batcher.close(timeout=shutdown_timeout_s)

    app = FastAPI(
        title=f"acc-serve · {runtime.manifest.model.name}",
        description="Text classification with ACC token elimination: pick a profile by speedup, latency or accuracy.",
        lifespan=lifespan,
    )
    app.state.runtime, app.state.batcher, app.state.metrics = runtime, batcher, metrics
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes, body_timeout_s=body_timeout_s,
                       count_error=metrics.error)  # fmt: skip

    def error(status: int, name: str, detail: str) -> JSONResponse:
        metrics.error(status, name)
        return JSONResponse({"detail": " ".join(detail.split()), "error": name}, status_code=status)

    @app.exception_handler(AccError)
    async def acc_error(request: Any, exc: AccError) -> JSONResponse:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)
        return error(status, type(exc).__name__, as_json(str(exc)))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Any, exc: RequestValidationError) -> JSONResponse:
        status, detail = describe_validation_errors(exc.errors())
        return error(status, "BadRequest" if status == 400 else "ValidationError", detail)

    @app.exception_handler(HTTPException)
    async def http_error(request: Any, exc: HTTPException) -> JSONResponse:
        # FastAPI's own: unparsable bodies (invalid UTF-8, nesting too deep for its JSON parser), 404, 405.
        if exc.status_code == 400:
            detail = (
                "request body is not a valid JSON document (invalid UTF-8 or nested too deep); send an object "
                'like {"text": "..."}'
            )
            return error(400, "BadRequest", detail)
        detail = f"{request.method} {request.url.path}: {exc.detail}; see /docs for the routes"
        return error(exc.status_code, _HTTP_NAMES.get(exc.status_code, "HTTPError"), detail)

    @app.exception_handler(Exception)
    async def unexpected(request: Any, exc: Exception) -> JSONResponse:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return error(500, type(exc).__name__, f"internal error ({first}); the server log has the traceback")

    @app.post("/predict", response_model=PredictResponse, responses=_ERRORS)
    async def predict(body: PredictRequest) -> PredictResponse:
        start = time.perf_counter()
        texts = body.inputs()
        if len(texts) > max_texts:
            raise DataError(f"request has {len(texts)} texts, this server takes at most {max_texts}; split it")
        prediction = await batcher.apredict(
            texts,
            speedup=body.speedup,
            latency_budget_ms=body.latency_budget_ms,
            min_accuracy=body.min_accuracy,
            best_effort=body.best_effort,
            truncate=truncate,
        )
        metrics.observe(prediction, len(texts), time.perf_counter() - start)
        return PredictResponse(
            labels=prediction.labels,
            label_ids=prediction.label_ids,
            probabilities=prediction.probabilities.tolist(),
            profile=prediction.profile,
            reason=prediction.reason,
            backend=prediction.backend,
            latency_ms=prediction.latency_ms,
            queue_ms=prediction.queue_ms,
            batch_size=prediction.batch_size,
        )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        stats = batcher.stats()
        manifest = runtime.manifest
        return {
            "status": "ok",
            "model": manifest.model.name,
            "labels": list(manifest.model.labels),
            "max_length": manifest.model.max_length,
            "profiles": manifest.profile_names,
            "adjustable": manifest.adjustable is not None,
            "backend": runtime.backend,
            "device": runtime.device_name,
            "on_overlength": on_overlength,
            "max_batch": batcher.max_batch,
            "max_wait_ms": batcher.max_wait_ms,
            "auto_profile": stats.auto_profile,
            "requests": stats.requests,
            "batches": stats.batches,
        }

    @app.get("/metrics", response_class=Response, response_model=None)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(content=body, media_type=content_type)

    app.include_router(v2_router(runtime, batcher, metrics, max_texts=max_texts, truncate=truncate))  # /v2/*, POST /
    return app


def describe_validation_errors(errors: Any) -> tuple[int, str]:
    """(status, one line) for FastAPI's validation errors: 400 when the body is not JSON at all, else 422."""
    errors = list(errors)
    for item in errors:
        loc = tuple(item.get("loc", ()))
        if item.get("type") == "json_invalid":
            reason = (item.get("ctx") or {}).get("error", "JSON decode error")
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            return 400, f'request body is not valid JSON ({reason}{where}); send an object like {{"text": "..."}}'
        if loc == ("body",) and item.get("type") == "missing":
            return 400, 'request body is empty; send a JSON object like {"text": "..."}'
        if loc == ("body",) and isinstance(item.get("input"), (bytes, str)):
            return 400, "request body was not sent as JSON; send it with Content-Type: application/json"
    parts = []
    for item in errors:
        field = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "body"
        parts.append(f"{field}: {item.get('msg', 'invalid')}")
    return 422, "invalid request: " + "; ".join(parts)
