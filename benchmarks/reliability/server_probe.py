"""Loopback probes of a real ``acc-serve`` process under its default limits, and memory per request.

Everything runs against 127.0.0.1 with a port the OS picks, every socket has a timeout and every case a deadline,
so the suite stops by itself. Memory is the server's resident set (``/proc/PID/status``: VmRSS now, VmHWM peak).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

SCRIPT = Path(sys.executable).parent / "acc-serve"
LONG_TEXT = " ".join(["a remarkably long and thoughtful review that keeps going"] * 80)  # > 512 tokens


def _memory_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":")
            fields[name] = int(value.split()[0]) / 1024
    return {"rss_mb": round(fields["VmRSS"], 1), "peak_mb": round(fields["VmHWM"], 1)}


class Server:
    """``acc-serve BUNDLE --port 0`` in a subprocess; ``url`` once it accepts connections."""

    def __init__(self, bundle: Path, *extra: str) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        argv = [str(SCRIPT), str(bundle), "--port", "0", "--device", "cpu", "--threads", "1", "--log-level",
                "warning", *extra]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.log: list[str] = []
        found = threading.Event()

        def read() -> None:
            for line in self.process.stderr:  # type: ignore[union-attr]
                self.log.append(line)
                if "listening on http://" in line:
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        # --log-level warning hides the "listening" info line; poll the port file of /proc instead
        self.port = self._wait_for_port(found)

    def _wait_for_port(self, found: threading.Event) -> int:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"acc-serve exited: {''.join(self.log)}")
            port = _listening_port(self.process.pid)
            if port:
                return port
            time.sleep(0.2)
        raise RuntimeError("acc-serve did not start in 180 s")

    def connect(self, timeout: float = 30) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def request(self, raw: bytes, timeout: float = 120) -> tuple[int, bytes, float]:
        start = time.monotonic()
        with self.connect(timeout) as sock:
            # Refused before the body was all sent (413 on Content-Length): read the answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(raw)
            reply = _read_reply(sock)
        status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1") else 0
        return status, reply, time.monotonic() - start

    def health_ms(self) -> float:
        status, _, seconds = self.request(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return seconds * 1e3 if status == 200 else float("nan")

    def memory(self) -> dict[str, float]:
        return _memory_mb(self.process.pid)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> float:
        start = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return float("inf")
        return time.monotonic() - start


def _listening_port(pid: int) -> int | None:
    """The TCP port a process listens on, from /proc (no psutil): its socket inodes matched in /proc/net/tcp."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")}  # fmt: skip
    except OSError:
        return None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] == "0A" and parts[9] in inodes:  # state LISTEN
            return int(parts[1].split(":")[1], 16)
    return None


def _read_reply(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def _complete(reply: bytes) -> bool:
    head, _, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _post(body: bytes) -> bytes:
    return (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)  # fmt: skip


def _while(server: Server, action: Any) -> tuple[Any, list[float]]:
    """Run ``action`` while timing /health every 0.2 s; (action's result, health latencies in ms)."""
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            latencies.append(server.health_ms())
            time.sleep(0.2)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        result = action()
    finally:
        done.set()
        thread.join(30)
    return result, latencies


def server_cases(bundle: Path) -> dict[str, Any]:
    """Oversize bodies, the biggest legal request, slowloris heads and bodies, shutdown under slow clients."""
    results: dict[str, Any] = {}
    server = Server(bundle)
    try:
        results["idle_memory"] = server.memory()
        for size_mb in (5, 50):
            body = b'{"texts": ["' + b"x" * (size_mb << 20) + b'"]}'
            (status, _, seconds), health = _while(server, lambda body=body: server.request(_post(body)))
            results[f"body_{size_mb}mb"] = {"status": status, "seconds": round(seconds, 2),
                                             "health_max_ms": round(max(health, default=0), 1)}  # fmt: skip
        texts = [LONG_TEXT[:3800]] * 256  # 256 texts (the --max-texts limit) of > 512 tokens, under 1 MiB
        body = json.dumps({"texts": texts}).encode()
        (status, _, seconds), health = _while(server, lambda: server.request(_post(body), timeout=1800))
        results["max_request"] = {"texts": 256, "body_bytes": len(body), "status": status,
                                  "seconds": round(seconds, 2), "health_max_ms": round(max(health, default=0), 1),
                                  **server.memory()}  # fmt: skip
        # slowloris: 200 connections that never finish their request head
        start = time.monotonic()
        holders = [server.connect() for _ in range(200)]
        for sock in holders:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
        health_during = server.health_ms()
        replies = [_read_reply(sock) for sock in holders]
        results["slowloris_heads"] = {"connections": 200, "answered_408": sum(r.startswith(b"HTTP/1.1 408")
                                                                             for r in replies),
                                      "all_closed_after_s": round(time.monotonic() - start, 2),
                                      "health_during_ms": round(health_during, 1)}  # fmt: skip
        for sock in holders:
            sock.close()
        # slow bodies: a head, then one byte, then silence
        start = time.monotonic()
        slow = [server.connect(timeout=60) for _ in range(20)]
        for sock in slow:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        replies = [_read_reply(sock) for sock in slow]
        results["slow_bodies"] = {"connections": 20, "answered_408": sum(r.startswith(b"HTTP/1.1 408")
                                                                         for r in replies),
                                  "closed_after_s": round(time.monotonic() - start, 2)}  # fmt: skip
        # shutdown while 20 clients hold half-sent bodies
        holders = [server.connect(timeout=60) for _ in range(20)]
        for sock in holders:
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        time.sleep(0.5)
        results["sigint_with_20_slow_clients_s"] = round(server.stop(signal.SIGINT), 2)
        for sock in holders:
            sock.close()
    finally:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)
    return results


MEMORY_SCRIPT = """
import json, resource, sys, time
from acc.runtime import Runtime
bundle, texts, rows, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
runtime = Runtime.load(bundle, device="cpu", threads=1, max_run_rows=rows, max_run_tokens=tokens)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
runtime.predict([{text!r}] * texts)
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"loaded_peak_mb": round(before, 1), "peak_mb": round(after, 1), "seconds": round(seconds, 2)}}))
"""


def child_row(done: subprocess.CompletedProcess, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` plus the JSON a measuring child printed last, or its last error line when it failed."""
    if done.returncode == 0:
        row.update(json.loads(done.stdout.strip().splitlines()[-1]))
    else:
        row["failed"] = (done.stderr.strip().splitlines() or ["?"])[-1][:160]
    return row


def memory_per_request(bundle: Path, sizes: tuple[int, ...], unsplit_max: int, cap_gb: float) -> list[dict[str, Any]]:
    """Peak RSS of one ``predict`` of N texts of 512 tokens, split (defaults) vs one graph run (the old behaviour),
    each in a fresh process capped at ``cap_gb`` of address space (a failure under the cap is reported)."""
    from acc.runtime.runtime import MAX_RUN_ROWS, MAX_RUN_TOKENS

    script = MEMORY_SCRIPT.format(text=LONG_TEXT)
    rows = []
    for mode, limits in (("split (defaults)", (MAX_RUN_ROWS, MAX_RUN_TOKENS)), ("one run (before)", (10**9, 10**12))):
        for texts in sizes:
            if mode.startswith("one") and texts > unsplit_max:
                continue
            command = [sys.executable, "-c", script, str(bundle), str(texts), str(limits[0]), str(limits[1])]
            cap = int(cap_gb * (1 << 30))
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False,
                                  env={**os.environ, "OMP_NUM_THREADS": "1"},
                                  preexec_fn=lambda cap=cap: _cap_memory(cap))  # fmt: skip
            rows.append(child_row(done, {"mode": mode, "texts": texts, "tokens_per_text": 512}))
    return rows


def _cap_memory(limit: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def sigterm_under_load(bundle: Path, clients: int = 16, load_s: float = 5.0) -> dict[str, Any]:
    """SIGTERM while ``clients`` threads send one-text requests, each on its own connection, without pause.

    A request is in flight once its bytes were sent. Each one must end answered (200) or refused with the
    documented JSON error (``{"detail", "error"}``, 503 while shutting down); a connection the kernel had queued but
    the server never accepted is reset with no reply (reported apart: the client may retry it, nothing ran). A
    connection refused at connect came after the listener closed. The process must exit within the graceful-
    shutdown deadline (``--shutdown-timeout-s``, default ``DEFAULT_SHUTDOWN_TIMEOUT_S``) plus 5 s of slack.
    """
    from acc.runtime.server_limits import DEFAULT_SHUTDOWN_TIMEOUT_S

    server = Server(bundle)
    asks = [{"text": "a gripping, funny and moving film"}, {"text": "dull and far too long", "speedup": 3.0}]
    outcomes: list[str] = []
    stop = threading.Event()
    signalled = threading.Event()

    def client(index: int) -> None:
        count = 0
        while not stop.is_set():
            body = json.dumps(asks[(index + count) % len(asks)]).encode()
            count += 1
            try:
                sock = server.connect(timeout=60)
            except OSError:
                outcomes.append("connect refused after SIGTERM" if signalled.is_set() else "connect failed")
                time.sleep(0.05)
                continue
            with sock:
                after_signal = signalled.is_set()
                try:
                    sock.sendall(_post(body))
                except OSError:
                    outcomes.append("reset before sent")
                    continue
                outcomes.append(_classify(_read_reply(sock), after_signal))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    try:
        server.request(_post(json.dumps(asks[0]).encode()))  # warm the dense graph before timing anything
        for thread in threads:
            thread.start()
        time.sleep(load_s)
        signalled.set()
        exit_s = server.stop(signal.SIGTERM, timeout=DEFAULT_SHUTDOWN_TIMEOUT_S + 60)
    finally:
        stop.set()
        for thread in threads:
            thread.join(90)
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)
    counts = dict(Counter(outcomes))
    bad = sum(n for name, n in counts.items() if name.startswith(("BROKEN", "NO REPLY")))
    return {"clients": clients, "load_s": load_s, "outcomes": counts, "exit_code": server.process.returncode,
            "exit_s": round(exit_s, 2), "deadline_s": DEFAULT_SHUTDOWN_TIMEOUT_S,
            "within_deadline": exit_s <= DEFAULT_SHUTDOWN_TIMEOUT_S + 5, "defects": bad}  # fmt: skip


def _classify(reply: bytes, after_signal: bool) -> str:
    """One in-flight request's end: answered, refused with the documented JSON error, reset unaccepted, or broken."""
    when = "sent after SIGTERM" if after_signal else "sent before SIGTERM"
    if not reply:
        return f"reset, no reply ({when})" if after_signal else "NO REPLY (sent before SIGTERM)"
    status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1") else 0
    if status == 200:
        return f"200 answered ({when})"
    try:
        body = json.loads(reply.partition(b"\r\n\r\n")[2])
        documented = isinstance(body, dict) and {"detail", "error"} <= body.keys()
    except ValueError:
        documented = False
    if documented:
        return f"{status} {body['error']} ({when})"
    return f"BROKEN {status} ({when})"
