"""``DynamicBatcher``: merge concurrent requests into one graph run per profile, on one worker thread.

Why: one ORT run of 16 rows costs far less than 16 runs of one row, and a server gets its requests one by one. The
batcher trades a bounded wait (``max_wait_ms``) for that: the worker takes the oldest request, collects whatever
arrives until ``max_wait_ms`` after that request was submitted (or ``max_batch`` rows are in), then runs each
group of requests that share a profile as one padded batch and hands every caller its own rows through a future.
Under load the oldest request has already waited past its deadline, so the worker takes the backlog at once.

Each request is encoded and its profile chosen in the caller's thread when it is submitted, so a bad input or an
impossible constraint fails the caller at once (``DataError`` / ``PolicyError``) and never reaches the worker. The
policy sees the request's own constraints and (batch, seq), and only requests whose choices agree (same profile,
same graph, same speedup) share a run, so merging never changes the profile that serves a request, and each
caller gets its own choice's ``reason``. Merging does add rows: a request with a latency budget joins a run only
while the latency table's p99 for the merged (rows, longest seq) still fits its budget (alone it always runs).
Pruning is per sample (keep counts from each sample's own valid length), so a request gets the same labels batched
or alone; logits agree to float rounding.

Load adaptation (``adaptive``): requests that name no constraint (no speedup, budget or floor) run "auto": the
profile of a ``LoadAdaptivePolicy`` ladder. Once per collected window the worker reports the window's *load
delay*, the longest time a request in it waited beyond its own batching window (``queue_ms - max_wait_ms``,
floored at 0): about 0 when the worker keeps up, growing with the backlog. The policy steps to a faster profile
when that stays above its high-water mark and back after a calm streak (hysteresis).
"""

from __future__ import annotations

import asyncio
import functools
import math
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from acc.profiles import AccError, DataError, PolicyError

from .inputs import Batch
from .policy import Choice, LoadAdaptivePolicy
from .request import RequestOptions

if TYPE_CHECKING:
    from .inputs import Inputs
    from .runtime import Prediction, Runtime

AUTO = "auto"
_STOP = object()


class BatcherClosedError(AccError):
    """A request submitted to a batcher that was closed (the server is shutting down)."""


@dataclass(frozen=True)
class BatcherStats:
    """Counters since the batcher was created: requests answered, graph runs, rows run, the auto profile."""

    requests: int
    batches: int
    rows: int
    auto_profile: str | None
    auto_level: int | None


@dataclass(frozen=True, eq=False)
class _Request:
    batch: Batch
    options: RequestOptions
    key: tuple[object, ...]
    choice: Choice | None  # None: auto, resolved by the load-adaptive policy when its batch runs
    future: Future[Prediction]
    submitted: float  # time.perf_counter() seconds, after encoding and choosing


def merge_batches(batches: Sequence[Batch], pad_id: int) -> Batch:
    """Stack padded batches into one, right-padding each to the longest sequence (mask 0 on the padding)."""
    longest = max(batch.seq_len for batch in batches)

    def stack(name: str, fill: int) -> np.ndarray:
        parts = [getattr(batch, name) for batch in batches]
        return np.concatenate(
            [np.pad(part, ((0, 0), (0, longest - part.shape[1])), constant_values=fill) for part in parts], axis=0
        )

    return Batch(stack("input_ids", pad_id), stack("attention_mask", 0), stack("token_type_ids", 0))


class DynamicBatcher:
    """Batches concurrent ``submit``/``predict``/``apredict`` calls on one ``Runtime``. Thread-safe.

    ``max_batch``: most rows per graph run (a single request with more rows runs alone, never split).
    ``max_wait_ms``: longest a request waits for company. The worker thread starts on the first request;
    :meth:`close` answers everything already submitted, then stops it.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        max_batch: int = 32,
        max_wait_ms: float = 5.0,
        adaptive: LoadAdaptivePolicy | None = None,
    ) -> None:
        if max_batch < 1:
            raise DataError(f"max_batch must be >= 1, got {max_batch}; pass e.g. 32")
        if not (math.isfinite(max_wait_ms) and max_wait_ms >= 0):
            raise DataError(f"max_wait_ms must be a finite number >= 0, got {max_wait_ms!r}; pass e.g. 5")
        if adaptive is not None:
            unknown = [name for name in adaptive.ladder if name not in runtime.manifest.profile_names]
            if unknown:
                raise PolicyError(
                    f"load-adaptive ladder names {unknown}, not profiles of this bundle "
                    f"({runtime.manifest.profile_names}); build it with LoadAdaptivePolicy.from_catalog(manifest)"
                )
        self.runtime = runtime
        self.max_batch = int(max_batch)
        self.max_wait_ms = float(max_wait_ms)
        self.adaptive = adaptive
        self._queue: queue.Queue[object] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._last_load_ms = 0.0
        self._counts = [0, 0, 0]  # requests answered, graph runs, rows run

    # ----------------------------------------------------------------------------------------------- callers

    def submit(self, inputs: Inputs, options: RequestOptions | None = None, **kwargs: Any) -> Future[Prediction]:
        """Encode and choose now (errors raise here), queue the request, return its future.

        ``options`` and ``kwargs``: the request's :class:`RequestOptions`, as for ``Runtime.predict``.
        """
        request = RequestOptions.of(options, **kwargs)
        batch = self.runtime.encoder.encode(inputs, truncate=request.truncate)
        choice: Choice | None = None
        if request.constrained or self.adaptive is None:
            choice = self.runtime.choose(request, batch=batch.size, seq_len=batch.seq_len)
        key = (AUTO,) if choice is None else (choice.profile, choice.adjustable, choice.speedup)
        future: Future[Prediction] = Future()
        with self._lock:
            if self._closed:
                raise BatcherClosedError("this batcher is closed and takes no more requests; create a new one")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="acc-batcher", daemon=True)
                self._thread.start()
            self._queue.put(_Request(batch, request, key, choice, future, time.perf_counter()))
        return future

    def predict(
        self, inputs: Inputs, options: RequestOptions | None = None, *, timeout: float | None = None, **kwargs: Any
    ) -> Prediction:
        """Submit and wait (at most ``timeout`` seconds); same options as :meth:`submit`."""
        return self.submit(inputs, options, **kwargs).result(timeout)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (the server's readiness probe answers 503 from then on)."""
        return self._closed

    async def apredict(self, inputs: Inputs, options: RequestOptions | None = None, **kwargs: Any) -> Prediction:
        """Submit and await without blocking the event loop; cancelling the await drops a not-yet-run request.

        Encoding (tokenisation) runs in the loop's default executor, not on the loop: a request of long texts
        would otherwise stall every other connection, ``/health`` included.
        """
        loop = asyncio.get_running_loop()
        future = await loop.run_in_executor(None, functools.partial(self.submit, inputs, options, **kwargs))
        return await asyncio.wrap_future(future)

    @property
    def auto_profile(self) -> str | None:
        """The profile "auto" requests get now (None without load adaptation)."""
        return None if self.adaptive is None else self.adaptive.profile

    def stats(self) -> BatcherStats:
        with self._lock:
            requests, batches, rows = self._counts
        level = None if self.adaptive is None else self.adaptive.level
        return BatcherStats(requests, batches, rows, self.auto_profile, level)

    def close(self, timeout: float | None = 30.0) -> None:
        """Refuse new requests, answer the queued ones, stop the worker (waits at most ``timeout`` seconds)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> DynamicBatcher:  # noqa: PYI034 - Self needs Python 3.11
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------------ worker

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            window, stop = self._collect(first)  # type: ignore[arg-type]
            try:
                self._dispatch(window)
            except Exception as exc:  # noqa: BLE001 - a bug here must fail the callers, not hang them
                for request in window:
                    if not request.future.done():
                        request.future.set_exception(exc)
            if stop:
                return

    def _collect(self, first: _Request) -> tuple[list[_Request], bool]:
        """The oldest request plus what arrives before its deadline, until ``max_batch`` rows; (window, stop)."""
        window, rows = [first], first.batch.size
        deadline = first.submitted + self.max_wait_ms / 1e3
        while rows < self.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return window, True
            window.append(item)  # type: ignore[arg-type]
            rows += item.batch.size  # type: ignore[union-attr]
        return window, False

    def _dispatch(self, window: list[_Request]) -> None:
        """Feed the load signal to the adaptive policy, then run each choice's requests in chunks (see _chunks)."""
        if self.adaptive is not None:
            now = time.perf_counter()
            load_ms = max(max(0.0, (now - r.submitted) * 1e3 - self.max_wait_ms) for r in window)
            self._last_load_ms = load_ms
            self.adaptive.observe(load_ms)
        groups: dict[tuple[object, ...], list[_Request]] = {}
        for request in window:
            groups.setdefault(request.key, []).append(request)
        for requests in groups.values():
            for chunk in self._chunks(requests):
                self._run(chunk)

    def _chunks(self, requests: list[_Request]) -> list[list[_Request]]:
        """Consecutive runs of requests sharing one choice: at most ``max_batch`` rows, and never more than the
        tightest latency budget among them allows (the table's p99 at the merged rows and longest sequence)."""
        chunks: list[list[_Request]] = []
        chunk: list[_Request] = []
        for request in requests:
            if chunk and not self._fits(chunk + [request]):
                chunks.append(chunk)
                chunk = []
            chunk.append(request)
        return chunks + [chunk]

    def _fits(self, chunk: list[_Request]) -> bool:
        rows = sum(r.batch.size for r in chunk)
        if rows > self.max_batch:
            return False
        budgets = [r.options.latency_budget_ms for r in chunk if r.options.latency_budget_ms is not None]
        choice = chunk[0].choice
        if not budgets or choice is None or choice.adjustable:
            return True
        p99_ms = self.runtime.estimate_p99_ms(choice.profile, rows, max(r.batch.seq_len for r in chunk))
        return p99_ms is None or p99_ms <= min(budgets)

    def _run(self, chunk: list[_Request]) -> None:
        live = [request for request in chunk if request.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            choice = live[0].choice or self._auto_choice()  # a chunk is all "auto" or all one resolved choice
            merged = merge_batches([r.batch for r in live], self.runtime.encoder.pad_id)
            started = time.perf_counter()
            prediction = self.runtime.run_batch(merged, choice)
        except Exception as exc:  # noqa: BLE001 - every caller must get the error, and the worker must survive
            for request in live:
                request.future.set_exception(exc)
            return
        with self._lock:
            self._counts = [self._counts[0] + len(live), self._counts[1] + 1, self._counts[2] + merged.size]
        offset = 0
        for request in live:
            rows = slice(offset, offset + request.batch.size)
            offset += request.batch.size
            request.future.set_result(
                replace(
                    prediction,
                    labels=prediction.labels[rows],
                    label_ids=prediction.label_ids[rows],
                    probabilities=prediction.probabilities[rows],
                    logits=prediction.logits[rows],
                    reason=(request.choice or choice).reason,  # its own constraint's reason, not the first's
                    queue_ms=(started - request.submitted) * 1e3,
                )
            )

    def _auto_choice(self) -> Choice:
        policy = self.adaptive
        if policy is None:  # unreachable: auto requests exist only with a policy
            raise PolicyError("auto request without a load-adaptive policy; report this as a bug")
        name = policy.profile
        entry = self.runtime.manifest.profile(name)
        reason = (
            f"auto: load-adaptive level {policy.level} of {list(policy.ladder)}; load delay "
            f"{self._last_load_ms:.3g} ms (high water {policy.high_water_ms:g} ms, "
            f"low water {policy.low_water_ms:g} ms)"
        )
        return Choice(name, reason, speedup=entry.target_speedup)
