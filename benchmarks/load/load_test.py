"""Load test of acc-serve: a real server on loopback, concurrent HTTP clients, every answer checked.

    python benchmarks/load/load_test.py BUNDLE                       # 16 clients x 5,000 requests, mix auto,1.5,3,4.8
    python benchmarks/load/load_test.py BUNDLE --clients 2 --requests-per-client 20 --output-dir /tmp/lt
    python benchmarks/load/load_report.py benchmarks/results/load-cpu-bert-sst2_<UTC>.json   # re-render md/png only

Why a separate process and real sockets: what a user deploys is ``acc-serve`` under uvicorn, so lost or duplicated
answers, batching mix-ups between requests with different constraints, and shutdown problems only show there.
Each client sends one SST-2 dev sentence per request, cycling through the mix (``auto`` = no constraint; numbers
= ``speedup``). After the load, with the server stopped, every answer is compared with ``Runtime.predict`` of the
same text alone, on the profile the answer names: same profile, same label, probabilities within ``--atol``.
Checks: no HTTP error, every request id answered exactly once, the server counted exactly the requests sent,
every answer equal to its single-request output, clean shutdown on Ctrl-C. Numbers: throughput (answered
requests / wall time of the load phase) and client-side latency percentiles per profile. Writes
``<output-dir>/<name>_<UTC>.json`` (source of truth), ``.md`` and ``.png`` (rendered from the JSON only, by
``load_report.py``).
Uses the public API only (acc.runtime, acc.modeling.data, acc.exporter.latency).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from acc.exporter.latency import LatencyStats
from acc.profiles import AccError, DataError
from acc.runtime import BackendError, Runtime, cpu_name, read_manifest

SCHEMA_VERSION = 1
AUTO = "auto"
HIST_EDGES_MS = np.geomspace(0.5, 20_000.0, 61)  # log-spaced latency histogram bins, stored in the JSON


@dataclass(frozen=True)
class LoadConfig:
    """One load test. ``mix``: asks cycled over request ids, ``auto`` or a speedup such as ``3``."""

    bundle: Path
    clients: int = 16
    requests_per_client: int = 5000
    mix: tuple[str, ...] = (AUTO, "1.5", "3", "4.8")
    data_dir: Path | None = None
    max_texts: int | None = None  # distinct SST-2 dev sentences (None: all 872)
    threads: int = 1  # server ORT intra-op threads
    max_batch: int = 32
    max_wait_ms: float = 5.0
    adaptive: bool = False
    atol: float = 1e-5
    warmup_per_ask: int = 4
    startup_timeout_s: float = 180.0
    progress: bool = True
    note: str = ""

    def check(self) -> LoadConfig:
        if self.clients < 1 or self.requests_per_client < 1 or not self.mix:
            raise DataError(
                "--clients and --requests-per-client must be >= 1 and --mix non-empty; e.g. 16, 5000, auto,3"
            )
        for ask in self.mix:
            if ask != AUTO and not ask.replace(".", "", 1).isdigit():
                raise DataError(f"--mix entry {ask!r} is neither 'auto' nor a speedup; write e.g. auto,1.5,3")
        return self


@dataclass(frozen=True)
class Job:
    id: int
    client: int
    text: int  # index into the texts
    ask: str


@dataclass
class Answer:
    id: int
    status: int  # HTTP status; 0 when the request itself failed (connection error, timeout)
    latency_ms: float  # client side: send to full response
    done_s: float  # seconds after the load phase started
    body: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def plan(config: LoadConfig, n_texts: int) -> list[Job]:
    """Request ``id`` of client ``c`` is ``c * requests_per_client + i``; texts are spread by a coprime stride."""
    return [Job(c * config.requests_per_client + i, c, ((c * config.requests_per_client + i) * 7919) % n_texts,
                config.mix[(c * config.requests_per_client + i) % len(config.mix)])
            for c in range(config.clients) for i in range(config.requests_per_client)]  # fmt: skip


def body_of(text: str, ask: str) -> dict[str, Any]:
    return {"text": text} if ask == AUTO else {"text": text, "speedup": float(ask)}


# ------------------------------------------------------------------------------------------------------- server


@contextmanager
def served(config: LoadConfig, log_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Start ``acc-serve BUNDLE`` on a free loopback port, wait for /health, yield (url, shutdown record)."""
    import httpx

    with socket.socket() as probe:  # a free port; acc-serve binds it a moment later (logs stay at warning)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = Path(sys.executable).parent / "acc-serve"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "acc.tools.serve"]
    argv = [*command, str(config.bundle), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
            "--threads", str(config.threads), "--max-batch", str(config.max_batch), "--max-wait-ms",
            str(config.max_wait_ms), "--no-verify", "--log-level", "warning"]  # fmt: skip
    argv += ["--adaptive"] if config.adaptive else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(log_path, "w") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
    url, shutdown = f"http://127.0.0.1:{port}", {"argv": argv[len(command) :], "exit_code": None}
    try:
        deadline = time.monotonic() + config.startup_timeout_s
        while True:
            if process.poll() is not None:
                raise BackendError(f"acc-serve exited with {process.returncode} at start: {_tail(log_path)}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BackendError(f"acc-serve did not answer /health in {config.startup_timeout_s:g} s: "
                                   f"{_tail(log_path)}; raise --startup-timeout on a busy machine")  # fmt: skip
            time.sleep(0.2)
        yield url, shutdown
        process.send_signal(signal.SIGINT)
        shutdown["exit_code"] = process.wait(timeout=60)
        shutdown["log_tail"] = _tail(log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _tail(path: Path, lines: int = 5) -> str:
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])


# ------------------------------------------------------------------------------------------------------ clients


async def drive(
    url: str, jobs: Sequence[Job], texts: Sequence[str], clients: int, progress: bool, load: list[float]
) -> list[Answer]:
    """``clients`` coroutines, each sending its own jobs one after the other over a keep-alive connection.

    Appends the machine's 1-minute load average to ``load`` every 5 s: on a shared machine it explains the numbers.
    """
    import httpx

    by_client: dict[int, list[Job]] = defaultdict(list)
    for job in jobs:
        by_client[job.client].append(job)
    answers: list[Answer] = []
    bar = _bar(len(jobs), progress)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120.0, limits=limits) as client:
        start = time.perf_counter()

        async def one_client(own: list[Job]) -> None:
            for job in own:
                sent = time.perf_counter()
                try:
                    response = await client.post("/predict", json=body_of(texts[job.text], job.ask))
                    done = time.perf_counter()
                    ok = response.status_code == 200
                    answer = Answer(job.id, response.status_code, (done - sent) * 1e3, done - start,
                                    response.json() if ok else {}, "" if ok else response.text[:300])  # fmt: skip
                except httpx.HTTPError as exc:
                    done = time.perf_counter()
                    answer = Answer(job.id, 0, (done - sent) * 1e3, done - start, error=f"{type(exc).__name__}: {exc}")
                answers.append(answer)
                bar.update(1)

        async def sample_load() -> None:
            while True:
                load.append(os.getloadavg()[0])
                await asyncio.sleep(5.0)

        sampler = asyncio.ensure_future(sample_load())
        await asyncio.gather(*(one_client(own) for own in by_client.values()))
        sampler.cancel()
    bar.close()
    return answers


def _bar(total: int, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="requests", unit="req", disable=not progress, smoothing=0.05)


# ----------------------------------------------------------------------------------------------------- checking


def reference(runtime: Runtime, texts: Sequence[str], jobs: Sequence[Job], answers: Sequence[Answer]) -> dict:
    """``{(text, ask, profile): (profile, label, probabilities)}``: ``Runtime.predict`` of each text alone.

    A speedup ask is replayed as asked (the policy must pick the same profile); an ``auto`` answer is replayed on
    the shipped profile it names, so a load-adaptive server is checked against the profile it really used.
    """
    by_id = {job.id: job for job in jobs}
    speedups = {entry.name: entry.target_speedup for entry in runtime.manifest.profiles}
    out: dict[tuple[int, str, str], tuple[str, str, list[float]]] = {}
    for answer in answers:
        job = by_id.get(answer.id)
        if answer.status != 200 or job is None:
            continue
        key = (job.text, job.ask, str(answer.body.get("profile")))
        if key in out:
            continue
        speedup = float(job.ask) if job.ask != AUTO else speedups.get(key[2])
        alone = runtime.predict(texts[job.text], speedup=speedup)
        out[key] = (alone.profile, alone.labels[0], alone.probabilities[0].tolist())
    return out


def verify(jobs: Sequence[Job], answers: Sequence[Answer], expected: dict, atol: float) -> dict[str, Any]:
    """Counts (and a few examples) of errors, lost and duplicated ids, and answers unlike their single run."""
    by_id = {job.id: job for job in jobs}
    counts = Counter(answer.id for answer in answers)
    mismatches, worst, examples = 0, 0.0, []
    for answer in answers:
        job = by_id.get(answer.id)
        if answer.status != 200 or job is None:
            continue
        key = (job.text, job.ask, str(answer.body.get("profile")))
        profile, label, probabilities = expected.get(key, (None, None, None))
        got = (answer.body.get("probabilities") or [[]])[0]
        same_shape = probabilities is not None and len(got) == len(probabilities)
        diff = float(np.max(np.abs(np.subtract(got, probabilities)))) if same_shape else float("inf")
        worst = max(worst, diff)
        if profile != answer.body.get("profile") or [label] != answer.body.get("labels") or diff > atol:
            mismatches += 1
            if len(examples) < 5:
                examples.append({"id": answer.id, "ask": job.ask, "got": answer.body.get("profile"),
                                 "expected": profile, "max_abs_diff": diff})  # fmt: skip
    errors = [a for a in answers if a.status != 200]
    return {
        "requests": len(jobs),
        "answered": len(answers),
        "errors": len(errors),
        "error_examples": [{"id": a.id, "status": a.status, "error": a.error} for a in errors[:5]],
        "lost": sum(1 for job in jobs if counts[job.id] == 0),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "unknown_ids": sum(1 for i in counts if i not in by_id),
        "mismatches": mismatches,
        "mismatch_examples": examples,
        "max_abs_prob_diff": worst,
        "atol": atol,
    }


# ------------------------------------------------------------------------------------------------------ numbers


def latency_block(samples_ms: Sequence[float]) -> dict[str, Any]:
    """LatencyStats' percentiles (one definition project-wide) plus p95 by the same numpy linear rule."""
    stats = LatencyStats.from_samples(samples_ms, warmup=0)
    return {"count": stats.iters, "p50_ms": stats.p50_ms, "p90_ms": stats.p90_ms,
            "p95_ms": float(np.percentile(np.asarray(samples_ms, dtype=np.float64), 95)), "p99_ms": stats.p99_ms,
            "mean_ms": stats.mean_ms, "max_ms": float(max(samples_ms)),
            "histogram": np.histogram(np.clip(samples_ms, HIST_EDGES_MS[0], HIST_EDGES_MS[-1]),
                                      HIST_EDGES_MS)[0].tolist()}  # fmt: skip


def summarize(jobs: Sequence[Job], answers: Sequence[Answer], wall_s: float) -> dict[str, Any]:
    ok = [a for a in answers if a.status == 200]
    by_id = {job.id: job for job in jobs}
    groups: dict[str, list[Answer]] = defaultdict(list)
    for answer in ok:
        groups[str(answer.body["profile"])].append(answer)
    per_profile = []
    for profile, members in sorted(groups.items()):
        asks = Counter(by_id[a.id].ask for a in members)
        per_profile.append({"profile": profile, "asks": dict(asks), **latency_block([a.latency_ms for a in members]),
                            "server_latency_ms_mean": float(np.mean([a.body["latency_ms"] for a in members])),
                            "queue_ms_mean": float(np.mean([a.body["queue_ms"] for a in members])),
                            "batch_size_mean": float(np.mean([a.body["batch_size"] for a in members]))})  # fmt: skip
    seconds = int(np.ceil(wall_s)) or 1
    timeline = np.bincount(np.minimum([int(a.done_s) for a in ok], seconds - 1), minlength=seconds).tolist()
    return {"wall_s": wall_s, "throughput_rps": len(ok) / wall_s if wall_s > 0 else 0.0,
            "overall": latency_block([a.latency_ms for a in ok]) if ok else None, "per_profile": per_profile,
            "completed_per_second": timeline, "histogram_edges_ms": HIST_EDGES_MS.tolist()}  # fmt: skip


# -------------------------------------------------------------------------------------------------------- run


def run_load_test(config: LoadConfig) -> dict[str, Any]:
    """Serve, warm up, load, stop the server, check every answer; the report (JSON-ready) with ``passed``."""
    import httpx

    from acc.modeling.data import load_sst2

    config.check()
    manifest = read_manifest(config.bundle, verify=False)
    texts = load_sst2("dev", config.data_dir).head(config.max_texts).texts
    jobs = plan(config, len(texts))
    with (
        tempfile.TemporaryDirectory(prefix="acc-load-") as scratch,
        served(config, Path(scratch) / "serve.log") as (url, shutdown),
    ):
        for ask in config.mix:  # sessions are created on first use: not part of the measured load
            for i in range(config.warmup_per_ask):
                warm = httpx.post(f"{url}/predict", json=body_of(texts[i % len(texts)], ask), timeout=120)
                warm.raise_for_status()
        start, load = time.perf_counter(), []
        answers = asyncio.run(drive(url, jobs, texts, config.clients, config.progress, load))
        wall_s = time.perf_counter() - start
        health = httpx.get(f"{url}/health", timeout=30).json()
    with Runtime.load(config.bundle, device="cpu", verify=False, threads=config.threads) as runtime:
        checks = verify(jobs, answers, reference(runtime, texts, jobs, answers), config.atol)
    warmup = config.warmup_per_ask * len(config.mix)
    checks["server_requests"] = int(health["requests"]) - warmup  # the batcher's count of answered requests
    checks["server_exit_code"] = shutdown["exit_code"]
    checks["passed"] = bool(not checks["errors"] and not checks["lost"] and not checks["duplicates"]
                            and not checks["unknown_ids"] and not checks["mismatches"]
                            and checks["server_requests"] == len(jobs) and shutdown["exit_code"] == 0)  # fmt: skip
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "acc-serve load test",
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
            "total_requests": len(jobs),
            "distinct_texts": len(texts),
            "warmup_requests": warmup,
        },
        "server": {
            "argv": shutdown["argv"],
            "backend": health.get("backend"),
            "device": health.get("device"),
            "batches": health.get("batches"),
            "model": manifest.model.name,
            "profiles": list(manifest.profile_names),
        },
        "host": {
            "cpu": cpu_name(),
            "logical_cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1min": {"mean": float(np.mean(load)), "max": float(np.max(load)), "samples": len(load)},
        },
        "versions": {name: _version(name) for name in ("acc-deploy", "onnxruntime", "fastapi", "uvicorn", "httpx")},
        "checks": checks,
        "results": summarize(jobs, answers, wall_s),
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------------- writing


def write_results(report: dict[str, Any], output_dir: Path, name: str) -> Path:
    """``<output_dir>/<name>_<UTC>.json`` (a new file, renamed into place), then its .md and .png; returns the JSON."""
    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.strptime(report["created_utc"], "%Y-%m-%dT%H:%M:%SZ").strftime("%Y%m%dT%H%M%SZ")
    path = output_dir / f"{name}_{stamp}.json"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)
    _load_report().render(path)
    return path


def _load_report() -> ModuleType:
    """benchmarks/load/load_report.py, the renderer, imported by path (benchmarks/ is a folder of scripts, not a package)."""
    path = Path(__file__).with_name("load_report.py")
    spec = importlib.util.spec_from_file_location("acc_load_report", path)
    if spec is None or spec.loader is None:
        raise DataError(f"cannot import {path}; keep load_report.py next to load_test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -------------------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load-test acc-serve on loopback and check every answer.")
    parser.add_argument("bundle", type=Path, help="bundle directory written by acc-export")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests-per-client", type=int, default=5000, help="requests per client (default 5000)")
    parser.add_argument("--mix", default="auto,1.5,3,4.8", help="asks cycled over requests: auto or speedups")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="SST-2 folder (default: ACC_DATA_DIR, then the copy shipped in the package)",
    )
    parser.add_argument("--max-texts", type=int, default=None, help="use the first N dev sentences (default all)")
    parser.add_argument("--threads", type=int, default=1, help="server ORT intra-op threads (default 1)")
    parser.add_argument("--max-batch", type=int, default=32, help="acc-serve --max-batch (default 32)")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="acc-serve --max-wait-ms (default 5)")
    parser.add_argument("--adaptive", action="store_true", help="acc-serve --adaptive: 'auto' follows the load")
    parser.add_argument("--atol", type=float, default=1e-5, help="probability tolerance vs single runs (1e-5)")
    parser.add_argument(
        "--startup-timeout",
        dest="startup_timeout_s",
        type=float,
        default=180.0,
        help="seconds to wait for /health (default 180)",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results"), help="where results go")
    parser.add_argument("--name", default=None, help="results file stem (default load-cpu-<model>)")
    parser.add_argument("--note", default="", help="context stored in the results (machine load, ...)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)  # so `kill` still stops the server it started (finally blocks)
    try:
        values = {f.name: getattr(args, f.name) for f in fields(LoadConfig) if hasattr(args, f.name)}
        values["mix"] = tuple(m.strip() for m in args.mix.split(",") if m.strip())
        config = LoadConfig(**values)
        report = run_load_test(config)
        path = write_results(report, args.output_dir, args.name or f"load-cpu-{report['server']['model']}")
    except AccError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    checks, res = report["checks"], report["results"]
    print(f"{'PASSED' if checks['passed'] else 'FAILED'}: {checks['answered']} answers, {checks['errors']} errors, "
          f"{checks['lost']} lost, {checks['duplicates']} duplicated, {checks['mismatches']} unlike single runs; "
          f"{res['throughput_rps']:.1f} req/s; wrote {path} (+ .md, .png)")  # fmt: skip
    return 0 if checks["passed"] else 1


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
