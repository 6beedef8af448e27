"""The Open Inference Protocol (KServe v2 / Triton HTTP) and Hugging Face's ``{"inputs": ...}`` form for acc-serve.

``v2_router`` is mounted by ``acc.runtime.server.create_app`` beside ``/predict``; both go through the same
``DynamicBatcher``, metrics and profile policy, so a v2 request and a ``/predict`` request with the same options get
the same answer. Routes:

- ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``; ``GET /v2/models/{name}[/versions/1]`` (metadata),
  ``.../ready``; ``POST /v2/models/{name}[/versions/1]/infer``: one ``BYTES`` input ``text`` (shape ``[n]`` or
  ``[n, 1]``, JSON ``data`` or the binary tensor extension Triton clients send by default), outputs ``label``
  (BYTES), ``label_id`` (INT64), ``score`` (FP32, the probability of the label) and ``probabilities`` (FP32
  ``[n, labels]``). Request ``parameters``: ``speedup``, ``latency_budget_ms``, ``min_accuracy``, ``best_effort``,
  ``profile`` (a shipped profile by name). The response ``parameters`` say which ``profile`` ran and why. ``id`` is
  echoed, as is an ``X-Request-ID`` header. Errors are ``{"error": one line}`` (400; 404 for an unknown model;
  503 while shutting down), the protocol's form, which Triton clients raise as ``InferenceServerException``.
- ``POST /``: ``{"inputs": "text" | ["text", ...], "parameters": {...}}`` as Hugging Face Inference Endpoints send
  it, answered like ``transformers.pipeline``: ``[{"label", "score"}]`` per input (``top_k``: that many per input,
  ``null`` for all labels). Same ACC parameters as v2.

Why our routes and not the ``kserve`` SDK's model server: see the README (it pins protobuf < 7, which this project's
onnx needs, pulls kubernetes, grpcio-tools and pandas, and would replace the batcher, metrics and error lines that
``/predict`` already has, or run a second server beside them).
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import Request  # at module level: FastAPI resolves the handlers' annotations from these globals
from fastapi.responses import JSONResponse

from acc.profiles import AccError, DataError, PolicyError

from .batching import BatcherClosedError
from .request import RequestOptions

if TYPE_CHECKING:
    from fastapi import APIRouter

    from .batching import DynamicBatcher
    from .runtime import Prediction, Runtime
    from .server_metrics import ServerMetrics

MODEL_VERSION = "1"
TEXT_INPUT = "text"
OUTPUTS = ("label", "label_id", "score", "probabilities")
ACC_PARAMETERS = ("speedup", "latency_budget_ms", "min_accuracy", "best_effort", "profile")
# Parameters the protocol's clients send for themselves (binary tensor extension, tracing): accepted, not ACC's.
PROTOCOL_PARAMETERS = ("binary_data_output", "binary_data", "binary_data_size", "headers", "sequence_id", "priority",
                       "timeout", "triton_enable_empty_final_response")  # fmt: skip
HEADER_LENGTH = "inference-header-content-length"
REQUEST_ID = "x-request-id"


class ProtocolError(DataError):
    """A request that does not follow the protocol (answered 400 with ``{"error": ...}``)."""


class UnknownModelError(ProtocolError):
    """A model name or version this server does not serve (404)."""


def v2_router(runtime: Runtime, batcher: DynamicBatcher, metrics: ServerMetrics, *, max_texts: int,
              truncate: bool) -> APIRouter:  # fmt: skip
    """The v2 and Hugging Face routes over the app's runtime, batcher and metrics (see the module doc)."""
    from fastapi import APIRouter

    router = APIRouter()
    name = runtime.manifest.model.name

    def check_model(model: str, version: str | None = None) -> None:
        if model != name:
            raise UnknownModelError(f"unknown model {model!r}; this server serves {name!r} (GET /v2/models/{name})")
        if version not in (None, MODEL_VERSION):
            raise UnknownModelError(f"model {name!r} has no version {version!r}; it has version {MODEL_VERSION}")

    def for_model(model: str, version: str | None, request: Request, answer: Callable[[], Any]) -> Any:
        """``answer()`` for the served model (and version), else the protocol's error for an unknown one."""
        try:
            check_model(model, version)
        except ProtocolError as exc:
            return error(exc, request)
        return answer()

    def error(exc: Exception, request: Request) -> JSONResponse:
        status = _status(exc)
        metrics.error(status, type(exc).__name__)
        return JSONResponse({"error": " ".join(str(exc).split())}, status_code=status, headers=_echo(request))

    async def classify(texts: list[str], options: RequestOptions) -> Prediction:
        if len(texts) > max_texts:
            raise DataError(f"request has {len(texts)} texts, this server takes at most {max_texts}; split it")
        start = time.perf_counter()
        prediction = await batcher.apredict(texts, options)
        metrics.observe(prediction, len(texts), time.perf_counter() - start)
        return prediction

    @router.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        from importlib.metadata import version

        return {"name": "acc-serve", "version": version("acc-deploy"), "extensions": ["binary_tensor_data"]}

    @router.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @router.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        return _ready_response(not batcher.closed)

    @router.get("/v2/models/{model}")
    @router.get("/v2/models/{model}/versions/{version}")
    async def model_metadata(model: str, request: Request, version: str | None = None) -> Any:
        return for_model(model, version, request, lambda: _metadata(runtime))

    @router.get("/v2/models/{model}/ready")
    @router.get("/v2/models/{model}/versions/{version}/ready")
    async def model_ready(model: str, request: Request, version: str | None = None) -> Any:
        return for_model(model, version, request, lambda: _ready_response(not batcher.closed, name))

    @router.post("/v2/models/{model}/infer")
    @router.post("/v2/models/{model}/versions/{version}/infer")
    async def infer(model: str, request: Request, version: str | None = None) -> Any:
        try:
            check_model(model, version)
            body, binary = _split_body(await request.body(), request.headers.get(HEADER_LENGTH))
            texts = _texts(body, binary)
            wanted = _requested_outputs(body)
            options = request_options(runtime, body.get("parameters"), truncate)
            prediction = await classify(texts, options)
        except (AccError, BatcherClosedError) as exc:
            return error(exc, request)
        return JSONResponse(_infer_response(body, prediction, wanted, name), headers=_echo(request))

    @router.post("/")
    async def hf_inputs(request: Request) -> Any:
        try:
            body, _ = _split_body(await request.body(), None)
            inputs = body.get("inputs")
            texts = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                raise ProtocolError('send {"inputs": "a text"} or {"inputs": ["text", ...]}, with optional '
                                    '"parameters": {"speedup": 3}')  # fmt: skip
            parameters = dict(body.get("parameters") or {})
            top_k = _top_k(parameters.pop("top_k", 1))
            options = request_options(runtime, parameters, truncate)
            answer = pipeline_style(await classify(texts, options), runtime.labels, top_k)
        except (AccError, BatcherClosedError) as exc:
            return error(exc, request)
        return JSONResponse(answer, headers=_echo(request))

    return router


def request_options(runtime: Runtime, parameters: Any, truncate: bool) -> RequestOptions:
    """Request ``parameters`` → ``RequestOptions``; ``profile`` (a shipped profile's name) becomes its speedup."""
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise ProtocolError(f"parameters must be an object, got {type(parameters).__name__}; send e.g. "
                            '{"parameters": {"speedup": 3}}')  # fmt: skip
    unknown = sorted(set(parameters) - set(ACC_PARAMETERS) - set(PROTOCOL_PARAMETERS))
    if unknown:
        raise ProtocolError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; the ACC parameters are "
                            f"{', '.join(ACC_PARAMETERS)}")  # fmt: skip
    values = {key: parameters[key] for key in ACC_PARAMETERS if key in parameters and key != "profile"}
    for key, value in values.items():
        wanted = bool if key == "best_effort" else (int, float)
        if not isinstance(value, wanted) or (key != "best_effort" and isinstance(value, bool)):
            raise ProtocolError(f"parameter {key!r} must be {'true or false' if wanted is bool else 'a number'}, "
                                f"got {value!r}")  # fmt: skip
    profile = parameters.get("profile")
    if profile is not None:
        if values.get("speedup") is not None:
            raise PolicyError("parameters 'profile' and 'speedup' both name a profile; pass one of them")
        names = runtime.manifest.profile_names
        if profile not in names:
            raise PolicyError(f"unknown profile {profile!r}; this bundle has {', '.join(names)} (or pass a speedup)")
        values["speedup"] = runtime.manifest.profile(profile).target_speedup
    return RequestOptions(truncate=truncate, **values)


def pipeline_style(prediction: Prediction, labels: Sequence[str], top_k: Any = 1) -> list[Any]:
    """``transformers.pipeline("text-classification")``'s answer: ``[{"label", "score"}]`` per text (top 1), or per
    text a list of the ``top_k`` best (``None``: all labels), highest first."""
    top_k = _top_k(top_k)
    rows = []
    for probabilities in prediction.probabilities:
        order = np.argsort(-probabilities, kind="stable")
        ranked = [{"label": labels[i], "score": float(probabilities[i])} for i in order]
        rows.append(ranked[0] if top_k == 1 else ranked[: top_k or len(ranked)])
    return rows


def _top_k(top_k: Any) -> int | None:
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ProtocolError(f"parameter 'top_k' must be a positive integer or null, got {top_k!r}")
    return top_k


def _metadata(runtime: Runtime) -> dict[str, Any]:
    manifest = runtime.manifest
    labels = len(manifest.model.labels)
    return {
        "name": manifest.model.name,
        "versions": [MODEL_VERSION],
        "platform": f"acc-{runtime.backend}",
        "inputs": [{"name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "label_id", "datatype": "INT64", "shape": [-1]},
            {"name": "score", "datatype": "FP32", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, labels]},
        ],
        "parameters": {"labels": list(manifest.model.labels), "profiles": manifest.profile_names,
                       "adjustable": manifest.adjustable is not None, "acc_parameters": list(ACC_PARAMETERS)},
    }  # fmt: skip


def _ready_response(ready: bool, name: str | None = None) -> JSONResponse:
    from fastapi.responses import JSONResponse

    body: dict[str, Any] = {"ready": ready} if name is None else {"name": name, "ready": ready}
    return JSONResponse(body, status_code=200 if ready else 503)


def _split_body(raw: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """(JSON header, binary tail): with ``Inference-Header-Content-Length`` the JSON is only the first bytes."""
    if header_length is not None:
        try:
            length = int(header_length)
        except ValueError:
            raise ProtocolError(f"Inference-Header-Content-Length must be an integer, got {header_length!r}") from None
        if not 0 <= length <= len(raw):
            raise ProtocolError(f"Inference-Header-Content-Length {length} is outside the {len(raw)}-byte body")
        raw, binary = raw[:length], raw[length:]
    else:
        binary = b""
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"request body is not valid JSON ({exc}); send a JSON object") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"request body must be a JSON object, got {type(body).__name__}")
    return body, binary


def _texts(body: dict[str, Any], binary: bytes) -> list[str]:
    """The texts of the one BYTES input ``text``, from JSON ``data`` or the binary tail."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ProtocolError(f'send exactly one input: {{"name": "{TEXT_INPUT}", "datatype": "BYTES", "shape": [n], '
                            '"data": [...]}')  # fmt: skip
    tensor = inputs[0]
    if tensor.get("name") != TEXT_INPUT or tensor.get("datatype") != "BYTES":
        raise ProtocolError(f"input {tensor.get('name')!r} of type {tensor.get('datatype')!r} is not served; send "
                            f"input {TEXT_INPUT!r} with datatype BYTES")  # fmt: skip
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) or not 1 <= len(shape) <= 2 \
            or (len(shape) == 2 and shape[1] != 1):  # fmt: skip
        raise ProtocolError(f"input {TEXT_INPUT!r} has shape {shape}; send [n] or [n, 1]")
    count = int(np.prod(shape))
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        items = _binary_strings(binary, int(size))
    else:
        items = list(_flatten(tensor.get("data")))
    if len(items) != count:
        raise ProtocolError(f"input {TEXT_INPUT!r} has shape {shape} but {len(items)} elements; make them agree")
    texts = []
    for index, item in enumerate(items):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(f"text {index} is not UTF-8; send UTF-8 text") from None
        if not isinstance(item, str):
            raise ProtocolError(f"element {index} of input {TEXT_INPUT!r} is a {type(item).__name__}; send strings")
        texts.append(item)
    if not texts:
        raise DataError("no texts given; send at least one")
    return texts


def _flatten(data: Any) -> Any:
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    elif data is not None:
        yield data


def _binary_strings(binary: bytes, size: int) -> list[bytes]:
    """BYTES elements of the binary tensor extension: each a 4-byte little-endian length, then the bytes."""
    if size > len(binary):
        raise ProtocolError(f"binary_data_size {size} is larger than the {len(binary)} binary bytes sent")
    data, offset, items = binary[:size], 0, []
    while offset < len(data):
        if offset + 4 > len(data):
            raise ProtocolError("binary BYTES tensor ends inside a length prefix; serialize it with tritonclient")
        (length,) = struct.unpack_from("<I", data, offset)
        offset += 4
        if offset + length > len(data):
            raise ProtocolError(
                "binary BYTES tensor element runs past binary_data_size; serialize it with tritonclient"
            )
        items.append(data[offset : offset + length])
        offset += length
    return items


def _requested_outputs(body: dict[str, Any]) -> list[str]:
    outputs = body.get("outputs")
    if outputs is None:
        return list(OUTPUTS)
    names = [item.get("name") if isinstance(item, dict) else item for item in outputs] if isinstance(outputs, list) \
        else [None]  # fmt: skip
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise ProtocolError(f"unknown output(s) {unknown}; this model has {', '.join(OUTPUTS)}")
    return names  # type: ignore[return-value]


def _infer_response(body: dict[str, Any], prediction: Prediction, wanted: list[str], name: str) -> dict[str, Any]:
    n = len(prediction.labels)
    scores = [float(p[i]) for p, i in zip(prediction.probabilities, prediction.label_ids)]
    tensors = {
        "label": ("BYTES", [n], list(prediction.labels)),
        "label_id": ("INT64", [n], list(prediction.label_ids)),
        "score": ("FP32", [n], scores),
        "probabilities": ("FP32", list(prediction.probabilities.shape), prediction.probabilities.ravel().tolist()),
    }
    response: dict[str, Any] = {
        "model_name": name,
        "model_version": MODEL_VERSION,
        "parameters": {"profile": prediction.profile, "reason": prediction.reason, "backend": prediction.backend,
                       "latency_ms": prediction.latency_ms, "queue_ms": prediction.queue_ms,
                       "batch_size": prediction.batch_size},
        "outputs": [{"name": key, "datatype": tensors[key][0], "shape": tensors[key][1], "data": tensors[key][2]}
                    for key in wanted],
    }  # fmt: skip
    if "id" in body:
        response["id"] = body["id"]
    return response


def _status(exc: Exception) -> int:
    if isinstance(exc, UnknownModelError):
        return 404
    if isinstance(exc, BatcherClosedError):
        return 503
    if isinstance(exc, (DataError, PolicyError)):
        return 400
    return 500


def _echo(request: Request) -> dict[str, str]:
    value = request.headers.get(REQUEST_ID)
    return {"X-Request-ID": value} if value else {}
