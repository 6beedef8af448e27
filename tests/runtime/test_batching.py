"""runtime/batching.py: concurrent requests merged per profile, results as if sequential, errors, load adaptation."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from acc.profiles import DataError, PolicyError
from acc.runtime import BackendError, Batch, LoadAdaptivePolicy, RequestOptions, Runtime, update_manifest_tables
from acc.runtime.batching import BatcherClosedError, DynamicBatcher, merge_batches

TEXTS = ["a gripping, beautifully shot film", "dull.", "the plot never quite comes together , but the cast is great",
         "fine", "an utterly forgettable sequel that nobody asked for"]  # fmt: skip


@pytest.fixture(scope="module")
def runtime(tiny_export_bundle: Path) -> Runtime:
    return Runtime.load(tiny_export_bundle, device="cpu", threads=1)


DENSE_MS_PER_ROW = 10.0  # made-up latency table below: dense p99 = 10 ms per row, s1.5 = 6 ms per row


@pytest.fixture(scope="module")
def timed_runtime(runtime: Runtime, tiny_export_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """The tiny bundle with a latency table linear in the batch (any length), so budgets decide predictably."""
    bundle = Path(shutil.copytree(tiny_export_bundle, tmp_path_factory.mktemp("timed") / "bundle"))
    key = {"backend": "ort-cpu", "device": runtime.device_name, "threads": 1}
    rows = [{**key, "profile": p, "batch": b, "seq": s, "p50_ms": ms * b / 2, "p99_ms": ms * b}
            for p, ms in (("dense", DENSE_MS_PER_ROW), ("s1.5", 6.0)) for b in (1, 8) for s in (8, 512)]  # fmt: skip
    update_manifest_tables(bundle, latency_rows=rows)
    return Runtime.load(bundle, device="cpu", threads=1)


class GatedRuntime:
    """The real runtime, but ``run_batch`` waits for ``gate`` (a backlog on demand) and can be told to fail."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.manifest, self.encoder = runtime, runtime.manifest, runtime.encoder
        self.gate, self.entered = threading.Event(), threading.Event()
        self.gate.set()
        self.fail_profile: str | None = None

    def choose(self, *args: object, **kwargs: object):  # noqa: ANN201
        return self.runtime.choose(*args, **kwargs)  # type: ignore[arg-type]

    def run_batch(self, batch: Batch, choice):  # noqa: ANN001, ANN201
        self.entered.set()
        assert self.gate.wait(10), "test gate never opened"
        if choice.profile == self.fail_profile:
            raise BackendError(f"graph {choice.profile} failed; test")
        return self.runtime.run_batch(batch, choice)


def _same(batched, alone) -> None:  # noqa: ANN001
    assert batched.labels == alone.labels and batched.profile == alone.profile
    np.testing.assert_allclose(batched.logits, alone.logits, atol=1e-5)
    np.testing.assert_allclose(batched.probabilities, alone.probabilities, atol=1e-5)


# --------------------------------------------------------------------------------------------- merging, parity


def test_concurrent_predicts_give_the_sequential_results(runtime: Runtime) -> None:
    jobs = [(TEXTS[i % len(TEXTS)] if i % 4 else TEXTS[:2], (None, 1.5, 1.7)[i % 3]) for i in range(24)]
    expected = [runtime.predict(text, speedup=speedup) for text, speedup in jobs]
    barrier = threading.Barrier(8)  # 24 jobs on 8 threads: three rounds of 8 requests submitted at once

    def one(job: tuple) -> object:
        barrier.wait(timeout=30)
        return batcher.predict(job[0], speedup=job[1], timeout=30)

    with DynamicBatcher(runtime, max_batch=8, max_wait_ms=30) as batcher, ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, jobs))
        stats = batcher.stats()
    for got, want in zip(results, expected):
        _same(got, want)
    assert stats.requests == 24 and stats.rows == sum(len(r.labels) for r in results)
    assert stats.batches < 24  # concurrent requests really shared graph runs
    assert max(r.batch_size for r in results) > 2
    assert all(r.batch_size <= 8 for r in results)


def test_requests_are_grouped_by_resolved_profile(runtime: Runtime) -> None:
    with DynamicBatcher(runtime, max_batch=32, max_wait_ms=300) as batcher:
        futures = [batcher.submit(TEXTS[i], speedup=1.5 if i % 2 else None) for i in range(5)]
        results = [f.result(30) for f in futures]
        assert batcher.stats().batches == 2
    assert [r.profile for r in results] == ["dense", "s1.5", "dense", "s1.5", "dense"]
    assert [r.batch_size for r in results] == [3, 2, 3, 2, 3]
    for text, result in zip(TEXTS, results):
        _same(result, runtime.predict(text, speedup=1.5 if result.profile == "s1.5" else None))


def test_each_request_gets_its_own_choice_and_reason_in_a_mixed_window(timed_runtime: Runtime) -> None:
    accuracy = {row.profile: row.accuracy for row in timed_runtime.manifest.tables.accuracy}
    asks = [RequestOptions(), RequestOptions(speedup=1.5), RequestOptions(latency_budget_ms=1e6),
            RequestOptions(min_accuracy=min(accuracy.values())), RequestOptions(speedup=1.0),
            RequestOptions(latency_budget_ms=7.0), RequestOptions(min_accuracy=0.0, best_effort=True)]  # fmt: skip
    with DynamicBatcher(timed_runtime, max_batch=32, max_wait_ms=300) as batcher:
        futures = [batcher.submit(TEXTS[i % len(TEXTS)], ask) for i, ask in enumerate(asks)]
        results = [f.result(30) for f in futures]
    for i, (ask, got) in enumerate(zip(asks, results)):
        batch = timed_runtime.encoder.encode(TEXTS[i % len(TEXTS)])
        own = timed_runtime.choose(ask, batch=batch.size, seq_len=batch.seq_len)  # the request alone decides
        assert (got.profile, got.reason) == (own.profile, own.reason), ask
        _same(got, timed_runtime.predict(TEXTS[i % len(TEXTS)], ask))
    assert results[5].profile == "s1.5"  # 7 ms: dense (10 ms) does not fit, s1.5 (6 ms) does
    assert len({r.reason for r in results if r.profile == "dense"}) > 1  # different asks ...
    assert max(r.batch_size for r in results if r.profile == "dense") > 1  # ... shared one dense run


def test_a_latency_budget_caps_the_merged_batch(timed_runtime: Runtime) -> None:
    with DynamicBatcher(timed_runtime, max_batch=32, max_wait_ms=300) as batcher:
        free = [batcher.submit(text) for text in TEXTS[:3]]
        budget = 2.5 * DENSE_MS_PER_ROW  # dense fits 2 rows (20 ms), not 3 (30 ms)
        tight = [batcher.submit(text, latency_budget_ms=budget) for text in TEXTS[:4]]
        free_sizes = [f.result(30).batch_size for f in free]
        tight_results = [f.result(30) for f in tight]
    assert {r.profile for r in tight_results} == {"dense"}
    assert free_sizes == [3, 3, 3]  # no budget among them: one run
    assert [r.batch_size for r in tight_results] == [2, 2, 2, 2]  # would be one run of 7 rows without the cap
    for text, result in zip(TEXTS, tight_results):
        _same(result, timed_runtime.predict(text))


def test_max_batch_caps_rows_and_a_large_request_runs_alone(runtime: Runtime) -> None:
    with DynamicBatcher(runtime, max_batch=2, max_wait_ms=200) as batcher:
        small = [batcher.submit(text) for text in TEXTS[:3]]
        large = batcher.submit(TEXTS)
        sizes = [f.result(30).batch_size for f in small]
        assert large.result(30).batch_size == len(TEXTS) and len(large.result().labels) == len(TEXTS)
    assert max(sizes) == 2 and sorted(sizes) == [1, 2, 2]


def test_a_lone_request_waits_max_wait_then_runs(runtime: Runtime) -> None:
    with DynamicBatcher(runtime, max_wait_ms=80) as batcher:
        waited = batcher.predict(TEXTS[0], timeout=30)
    with DynamicBatcher(runtime, max_wait_ms=0) as batcher:
        prompt = batcher.predict(TEXTS[0], timeout=30)
    assert waited.queue_ms >= 70 and prompt.queue_ms < 70
    assert waited.latency_ms > 0 and waited.batch_size == 1


def test_apredict_batches_coroutines(runtime: Runtime) -> None:
    async def main(batcher: DynamicBatcher) -> list:
        return await asyncio.gather(*(batcher.apredict(text) for text in TEXTS))

    with DynamicBatcher(runtime, max_wait_ms=100) as batcher:
        results = asyncio.run(main(batcher))
        assert batcher.stats().batches == 1
    for text, result in zip(TEXTS, results):
        _same(result, runtime.predict(text))


def test_merge_batches_pads_to_the_longest() -> None:
    a = Batch(np.array([[1, 2, 3]]), np.array([[1, 1, 1]]), np.array([[0, 0, 1]]))
    b = Batch(np.array([[4], [5]]), np.array([[1], [1]]), np.array([[0], [0]]))
    merged = merge_batches([a, b], pad_id=9)
    np.testing.assert_array_equal(merged.input_ids, [[1, 2, 3], [4, 9, 9], [5, 9, 9]])
    np.testing.assert_array_equal(merged.attention_mask, [[1, 1, 1], [1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(merged.token_type_ids, [[0, 0, 1], [0, 0, 0], [0, 0, 0]])


# ---------------------------------------------------------------------------------------------------- errors


def test_bad_requests_fail_in_the_caller_and_are_never_queued(runtime: Runtime) -> None:
    with DynamicBatcher(runtime) as batcher:
        with pytest.raises(TypeError, match="unknown request option 'sped'; the options are speedup, "):
            batcher.submit("fine", sped=2.0)
        with pytest.raises(DataError, match="text 0 is empty"):
            batcher.submit("  ")
        with pytest.raises(PolicyError, match="speedup must be a number >= 1"):
            batcher.submit("fine", speedup=0.5)
        with pytest.raises(DataError, match="more than the model's max_length"):
            batcher.submit("word " * 600, truncate=False)
        assert batcher.stats().requests == 0


def test_a_failing_run_reaches_its_callers_and_the_worker_survives(runtime: Runtime) -> None:
    gated = GatedRuntime(runtime)
    gated.fail_profile = "s1.5"
    with DynamicBatcher(gated, max_wait_ms=100) as batcher:  # type: ignore[arg-type]
        failing = [batcher.submit(text, speedup=1.5) for text in TEXTS[:2]]
        fine = batcher.submit(TEXTS[2])
        for future in failing:
            with pytest.raises(BackendError, match="graph s1.5 failed"):
                future.result(30)
        assert fine.result(30).profile == "dense"
        assert batcher.predict(TEXTS[3], timeout=30).profile == "dense"


def test_close_answers_queued_requests_then_refuses(runtime: Runtime) -> None:
    batcher = DynamicBatcher(runtime, max_wait_ms=200)
    futures = [batcher.submit(text) for text in TEXTS]
    batcher.close()
    assert all(f.done() and len(f.result().labels) == 1 for f in futures)
    with pytest.raises(BatcherClosedError, match="closed"):
        batcher.submit(TEXTS[0])
    batcher.close()  # idempotent


def test_invalid_configuration(runtime: Runtime) -> None:
    with pytest.raises(DataError, match="max_batch must be >= 1"):
        DynamicBatcher(runtime, max_batch=0)
    with pytest.raises(DataError, match="max_wait_ms must be a finite number >= 0"):
        DynamicBatcher(runtime, max_wait_ms=float("nan"))
    with pytest.raises(PolicyError, match=r"ladder names \['s9'\], not profiles of this bundle"):
        DynamicBatcher(runtime, adaptive=LoadAdaptivePolicy(["dense", "s9"], high_water_ms=5, low_water_ms=1))


# ---------------------------------------------------------------------------------------------- load adaptive


def test_auto_steps_faster_under_a_backlog_and_back_when_calm(runtime: Runtime) -> None:
    gated = GatedRuntime(runtime)
    policy = LoadAdaptivePolicy.from_catalog(runtime.manifest, high_water_ms=50, low_water_ms=15, calm_requests=2,
                                             window=1)  # fmt: skip
    assert policy.ladder == ("dense", "s1.5")
    with DynamicBatcher(gated, max_batch=8, max_wait_ms=1, adaptive=policy) as batcher:  # type: ignore[arg-type]
        gated.gate.clear()
        first = batcher.submit(TEXTS[0])
        assert gated.entered.wait(10)  # the worker is busy with the first request...
        backlog = [batcher.submit(text) for text in TEXTS[1:4]]
        pinned = batcher.submit(TEXTS[4], speedup=1.0)
        time.sleep(0.2)  # ...while three "auto" requests and one pinned to dense pile up
        gated.gate.set()
        assert first.result(30).profile == "dense" and first.result().reason.startswith("auto: load-adaptive level 0")
        stepped = [f.result(30) for f in backlog]
        assert {r.profile for r in stepped} == {"s1.5"} and stepped[0].queue_ms >= 150
        assert stepped[0].reason.startswith("auto: load-adaptive level 1 of ['dense', 's1.5']")
        assert pinned.result(30).profile == "dense"  # a request that names its profile is never adapted
        assert batcher.auto_profile == "s1.5" and batcher.stats().auto_level == 1
        # Hysteresis: one calm batch is not enough to step back (calm_requests=2) ...
        assert batcher.predict(TEXTS[0], timeout=30).profile == "s1.5"
        # ... a calm streak is (a busy moment of this shared machine may restart the streak, hence a few tries).
        profiles = [batcher.predict(TEXTS[0], timeout=30).profile for _ in range(6)]
        assert "dense" in profiles
