"""``Runtime``: load a bundle once, then per request encode, pick a profile, run its graph and report.

Per request the order is fixed: encode first (the policy needs the padded batch and sequence length), then
``choose_profile`` over the manifest tables, then the cached backend of that profile's graph. Everything mutable
(backends, ad-hoc profiles) sits behind locks, so one ``Runtime`` serves many threads. Concurrent requests can be
merged into one graph run by ``acc.runtime.batching.DynamicBatcher``, which calls :meth:`Runtime.run_batch`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from acc.profiles import BundleError, DataError

from .adhoc import AdhocProfiles
from .backends import backend_factory, check_backend
from .bundle_format import Manifest
from .device_names import cpu_name
from .device_names import device_name as name_of_device
from .inputs import Batch, Inputs, TextEncoder
from .length_groups import length_groups
from .manifest import check_digest, read_manifest
from .policy import Choice, _latency_rows, choose_profile, interpolate_p99_ms
from .request import RequestOptions
from .session import SessionCache, VerifiedOrtFactory, resolve_device

# One graph run holds at most this many rows and rows x padded tokens: a request of 256 texts x 512 tokens runs as
# 16 runs of 16 rows instead of one run whose attention tensors alone take gigabytes (issue #20, item 6).
MAX_RUN_ROWS = 64
MAX_RUN_TOKENS = 8192


@dataclass(frozen=True, eq=False)
class Prediction:
    """Result of one request. ``probabilities``/``logits``: float32 ``[n, num_labels]``; ``latency_ms``: graph run.

    ``queue_ms``: time between submitting the request to a ``DynamicBatcher`` and the start of the graph run that
    served it (0 for a direct :meth:`Runtime.predict`). ``batch_size``: rows of that graph run, which is more than
    ``n`` when the batcher merged this request with others.
    """

    labels: list[str]
    label_ids: list[int]
    probabilities: np.ndarray
    profile: str
    latency_ms: float
    backend: str
    logits: np.ndarray
    reason: str
    queue_ms: float = 0.0
    batch_size: int = 0


class Runtime:
    """A loaded bundle. Create with :meth:`load`; the constructor takes already-built parts (tests inject them)."""

    precision: str = "fp32"  # graph precision the sessions run (``load`` resolves it)

    def __init__(
        self,
        manifest: Manifest,
        encoder: TextEncoder,
        sessions: SessionCache,
        backend: str,
        device_name: str | None = None,
        max_run_rows: int = MAX_RUN_ROWS,
        max_run_tokens: int = MAX_RUN_TOKENS,
    ) -> None:
        if max_run_rows < 1 or max_run_tokens < 1:
            raise DataError(f"max_run_rows and max_run_tokens must be >= 1, got {max_run_rows} and {max_run_tokens}")
        self.max_run_rows = int(max_run_rows)
        self.max_run_tokens = int(max_run_tokens)
        self.manifest = manifest
        self.encoder = encoder
        self.backend = backend
        self._sessions = sessions
        # The latency rows of this device win in the policy (calibration keys rows by the same name).
        self._device_name = device_name or (cpu_name() if backend.endswith("cpu") else None)
        self.adhoc = AdhocProfiles(manifest)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        device: str = "auto",
        backend: str = "auto",
        verify: bool = True,
        threads: int | None = None,
        precision: str = "auto",
        digest: str | None = None,
        verify_key: str | os.PathLike[str] | None = None,
        preload: bool = True,
        max_run_rows: int = MAX_RUN_ROWS,
        max_run_tokens: int = MAX_RUN_TOKENS,
    ) -> Runtime:
        """Read and verify the bundle, load its tokenizer and (``preload``) a session of every graph.

        Every byte a session or the tokenizer is built from is read once and checked against the manifest (size,
        sha256) right then, so a file changed after load cannot reach an answer. ``digest``: the bundle identity
        acc-export printed (``sha256:…``), refused if it differs. ``verify_key``: a public key (PEM) whose signature
        (``manifest.json.sig``, ``acc-export --sign-key``) must cover this manifest; needs ``acc-deploy[sign]``.
        ``preload=False`` creates each graph's session on its first request instead (still from verified bytes).
        ``max_run_rows`` / ``max_run_tokens``: bigger requests are split into graph runs of at most this many rows
        and rows x padded length (bounded memory per request; answers are per sample, so unchanged).

        ``device``: ``auto`` (CUDA when onnxruntime-gpu sees a GPU, else CPU), ``cpu`` or ``cuda``. ``backend``
        (``acc.runtime.backends``): ``auto`` or ``ort`` (the ONNX graphs on ONNX Runtime), ``trt`` (the bundle's
        TensorRT engines for this GPU) or ``aoti`` (its AOTInductor packages, ``acc-aoti``; needs torch).
        ``threads``: ORT intra-op threads (default: ORT's).
        ``precision``: ``auto`` (the bundle's default for the device where safe: fp16 on CUDA), ``fp32``,
        ``fp16``, ``fp16-all`` or ``int8`` (CPU; see ``acc.runtime.precision``); for ``trt`` the engines' precision.
        """
        check_backend(backend)
        manifest = read_manifest(path, verify=verify)
        if not manifest.model.labels:
            raise BundleError(f"bundle {manifest.bundle_dir} has no labels, so it is not a classifier; load a "
                              "causal-LM bundle with CausalRuntime, a T5 one with Seq2SeqRuntime")  # fmt: skip
        if digest is not None:
            check_digest(manifest, digest)
        if verify_key is not None:
            from .signing import verify_signature

            verify_signature(manifest, verify_key)
        resolved = resolve_device(device)
        encoder = TextEncoder.from_manifest(manifest)
        backends = backend_factory(manifest, backend, resolved, threads=threads, precision=precision)
        sessions = SessionCache(backends.factory)
        runtime = cls(manifest, encoder, sessions, backend=backends.name, device_name=name_of_device(resolved),
                      max_run_rows=max_run_rows, max_run_tokens=max_run_tokens)  # fmt: skip
        runtime.precision = backends.precision
        if preload:  # a broken graph fails the load, not the first request that needs it
            shared = isinstance(backends.factory, VerifiedOrtFactory)
            if shared:
                backends.factory.external_cache = {}  # the graphs share one verified read of their weights
            try:
                for graph in backends.graphs:
                    sessions.get(graph)
            finally:
                if shared:
                    backends.factory.external_cache = None
        return runtime

    @property
    def labels(self) -> tuple[str, ...]:
        return self.manifest.model.labels

    @property
    def device_name(self) -> str | None:
        """The ``device`` key this runtime looks up in the latency table (CPU model or GPU name)."""
        return self._device_name

    def choose(
        self,
        options: RequestOptions | None = None,
        *,
        batch: int = 1,
        seq_len: int = 64,
        **kwargs: Any,
    ) -> Choice:
        """The policy's choice for a request of this shape on this runtime's backend (nothing is run).

        ``options`` and ``kwargs``: the request's :class:`RequestOptions` (``speedup=``, ``latency_budget_ms=``,
        ``min_accuracy=``, ``best_effort=``); keywords override fields of ``options``.
        """
        request = RequestOptions.of(options, **kwargs)
        return choose_profile(
            self.manifest,
            **request.policy_kwargs(),
            batch=batch,
            seq_len=seq_len,
            backend=self.backend,
            device=self._device_name,
        )

    def estimate_p99_ms(self, profile: str, batch: int, seq_len: int) -> float | None:
        """p99 (ms) of one graph run of a shipped profile at (batch, seq_len), interpolated from the latency rows
        the policy reads (this backend, this device's rows when it has some); ``None`` when the profile has none.

        The batcher asks this for a *merged* batch, so a request with a latency budget is never merged into a run
        the table says is too slow for it.
        """
        _, rows = _latency_rows(self.manifest.tables, self.backend, self._device_name)
        mine = [row for row in rows if row.profile == profile]
        return interpolate_p99_ms(mine, batch, seq_len) if mine else None

    def predict(self, inputs: Inputs, options: RequestOptions | None = None, **kwargs: Any) -> Prediction:
        """Classify texts (or token-id lists) with the profile the policy picks for this request.

        ``options`` and ``kwargs``: the request's :class:`RequestOptions` — ``speedup=3.0``,
        ``latency_budget_ms=20``, ``min_accuracy=0.85``, ``best_effort=True``, ``truncate=False``; keywords override
        fields of ``options``. Rows run in groups of similar length (``length_groups``), each padded to its own
        longest sample; longer than the model's ``max_length`` they are cut (``truncate=False``: ``DataError``).
        ``latency_ms`` is the graph runs only.
        """
        request = RequestOptions.of(options, **kwargs)
        batch = self.encoder.encode(inputs, truncate=request.truncate)
        return self.run_batch(batch, self.choose(request, batch=batch.size, seq_len=batch.seq_len))

    def predict_batch(self, inputs: Inputs, options: RequestOptions | None = None, **kwargs: Any) -> Prediction:
        """Alias of :meth:`predict` for a list of texts or token-id lists."""
        return self.predict(inputs, options, **kwargs)

    async def apredict(self, inputs: Inputs, options: RequestOptions | None = None, **kwargs: Any) -> Prediction:
        """:meth:`predict` on the event loop's default executor, so a coroutine never blocks the loop on ORT.

        Each call is its own graph run; to merge concurrent calls into batches use ``DynamicBatcher.apredict``.
        """
        loop = asyncio.get_running_loop()
        call = functools.partial(self.predict, inputs, RequestOptions.of(options, **kwargs))
        return await loop.run_in_executor(None, call)

    def run_batch(self, batch: Batch, choice: Choice) -> Prediction:
        """Run an encoded batch on the graph of ``choice`` (from :meth:`choose`); the step after the policy.

        Public so a batcher can encode and choose per request, merge requests that share a choice, and run them
        once. ``latency_ms`` is the wall time of the graph run only.
        """
        extra: dict[str, np.ndarray] = {}  # feeds beside the tokens (the adjustable graph's keep_ratios)
        graph = self.adhoc.graph_for(choice, extra)
        backend = self._sessions.get(graph)
        logits = np.empty((batch.size, len(self.labels)), dtype=np.float32)
        latency_ms = 0.0
        for rows, group in length_groups(batch):
            parts: list[np.ndarray] = []
            for part in split_batch(group, self.max_run_rows, self.max_run_tokens):
                start = time.perf_counter()
                outputs = backend.infer({**part.feeds(), **extra})
                latency_ms += (time.perf_counter() - start) * 1e3
                parts.append(self._logits(outputs, graph))
            logits[rows] = np.concatenate(parts, axis=0)
        return self._prediction(logits, choice, latency_ms)

    def _logits(self, outputs: dict[str, np.ndarray], graph: Path) -> np.ndarray:
        logits = outputs.get("logits")
        labels = self.labels
        if logits is None or logits.ndim != 2 or logits.shape[1] != len(labels):
            shape = None if logits is None else tuple(logits.shape)
            raise BundleError(
                f"graph {graph.name} returned logits of shape {shape}, expected [batch, {len(labels)}] for labels "
                f"{list(labels)}; re-export the bundle"
            )
        return logits.astype(np.float32, copy=False)

    def _prediction(self, logits: np.ndarray, choice: Choice, latency_ms: float) -> Prediction:
        labels = self.labels
        probabilities = _softmax(logits)
        label_ids = [int(i) for i in np.argmax(logits, axis=1)]
        return Prediction(
            labels=[labels[i] for i in label_ids],
            label_ids=label_ids,
            probabilities=probabilities,
            profile=choice.profile,
            latency_ms=latency_ms,
            backend=self.backend,
            logits=logits,
            reason=choice.reason,
            batch_size=int(logits.shape[0]),
        )

    def close(self) -> None:
        """Release every cached session (a later request recreates what it needs)."""
        self._sessions.clear()

    def __enter__(self) -> Runtime:  # noqa: PYI034 - Self needs Python 3.11
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def split_batch(batch: Batch, max_rows: int, max_tokens: int) -> list[Batch]:
    """Consecutive row slices of at most ``max_rows`` rows and ``max_tokens`` rows x padded length (at least one
    row each), each cut to its own longest sample, so a long request costs bounded memory per graph run."""
    rows = max(1, min(max_rows, max_tokens // max(batch.seq_len, 1)))
    if batch.size <= rows:
        return [batch]
    parts = []
    for start in range(0, batch.size, rows):
        stop = start + rows
        width = max(int(batch.attention_mask[start:stop].sum(axis=1).max()), 1)
        parts.append(Batch(batch.input_ids[start:stop, :width], batch.attention_mask[start:stop, :width],
                           batch.token_type_ids[start:stop, :width]))  # fmt: skip
    return parts


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax in float64 (stable: max subtracted), returned as float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
