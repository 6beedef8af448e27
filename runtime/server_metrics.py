"""Prometheus metrics of acc-serve: per-profile request counts and latency histograms, errors, batching.

Each app gets its own ``CollectorRegistry`` (not prometheus_client's global one), so several apps in one process
(tests, or two bundles) never collide and ``/metrics`` shows exactly this app. Durations are in seconds, as
Prometheus names them (``*_seconds``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .batching import DynamicBatcher
    from .runtime import Prediction

ADJUSTABLE_LABEL = "adjustable"
# From 0.5 ms (a tiny model on CPU) to 10 s (a big batch on a slow CPU).
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics:
    """Counters and histograms of one app; ``render()`` gives the Prometheus text exposition."""

    def __init__(self, model: str, backend: str, device: str | None, batcher: DynamicBatcher,
                 shipped: Sequence[str] | None = None) -> None:  # fmt: skip
        """``shipped``: the bundle's profile names; any other profile (an ad-hoc speedup such as ``s2.01`` run by
        the adjustable graph) is labelled ``adjustable``, so clients cannot grow the series without bound."""
        self.shipped = None if shipped is None else frozenset(shipped)
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        Gauge("acc_model_info", "The bundle served (value 1)", ["model", "backend", "device"], registry=r).labels(
            model, backend, device or "unknown"
        ).set(1)
        self.requests = Counter("acc_requests", "Answered /predict requests", ["profile"], registry=r)
        self.texts = Counter("acc_texts", "Texts classified", ["profile"], registry=r)
        self.errors = Counter("acc_request_errors", "Refused or failed /predict requests", ["status", "error"],
                              registry=r)  # fmt: skip
        self.request_latency = Histogram(
            "acc_request_latency_seconds", "Server time of a /predict request (validation to response)",
            ["profile"], buckets=LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.inference_latency = Histogram(
            "acc_inference_latency_seconds", "Graph run that served a request", ["profile"],
            buckets=LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.queue_delay = Histogram(
            "acc_queue_delay_seconds", "Wait in the batcher before the graph run", ["profile"],
            buckets=LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.batch_rows = Histogram(
            "acc_batch_rows", "Rows of the graph run that served a request", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )  # fmt: skip
        if batcher.adaptive is not None:
            level = Gauge("acc_auto_level", "Load-adaptive ladder level of 'auto' requests (0 = slowest)", registry=r)
            level.set_function(lambda: float(batcher.adaptive.level if batcher.adaptive is not None else 0))

    def observe(self, prediction: Prediction, texts: int, server_seconds: float) -> None:
        profile = prediction.profile
        if self.shipped is not None and profile not in self.shipped:
            profile = ADJUSTABLE_LABEL
        self.requests.labels(profile).inc()
        self.texts.labels(profile).inc(texts)
        self.request_latency.labels(profile).observe(server_seconds)
        self.inference_latency.labels(profile).observe(prediction.latency_ms / 1e3)
        self.queue_delay.labels(profile).observe(prediction.queue_ms / 1e3)
        self.batch_rows.observe(prediction.batch_size)

    def error(self, status: int, error: str) -> None:
        self.errors.labels(str(status), error).inc()

    def render(self) -> tuple[bytes, str]:
        """(body, content type) of the text exposition format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
