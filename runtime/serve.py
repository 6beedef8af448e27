"""``serve``: load a bundle and run acc-serve's HTTP API with uvicorn; ``ServeOptions`` owns its flags.

The listening socket is bound here, before uvicorn starts, so a taken port or a bad host is one ``AccError`` line
instead of a uvicorn traceback, and ``--port 0`` (an ephemeral port) logs the port actually bound. Nothing heavy is
imported at module level: the ``[serve]`` extra (fastapi, uvicorn, prometheus-client) is checked on first use.
"""

from __future__ import annotations

import argparse
import logging
import socket
from dataclasses import dataclass, fields
from pathlib import Path

from acc.profiles import DataError

from .server_limits import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_SHUTDOWN_TIMEOUT_S,
)
from .session import BackendError

SERVE_EXTRA = "pip install 'acc-deploy[serve]'"
OVERLENGTH = ("truncate", "reject")  # what to do with a text longer than the model's max_length


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``serve`` needs. Flags are the field names in kebab-case (``bundle`` is positional)."""

    bundle: Path
    host: str = "127.0.0.1"
    port: int = 8080
    device: str = "auto"
    backend: str = "auto"
    threads: int | None = None
    max_batch: int = 32
    max_wait_ms: float = 5.0
    on_overlength: str = "truncate"
    max_texts: int = 256
    adaptive: bool = False
    high_water_ms: float = 20.0
    low_water_ms: float = 2.0
    calm_requests: int = 32
    verify: bool = True
    log_level: str = "info"
    digest: str | None = None
    verify_key: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S

    def check(self) -> ServeOptions:
        if not 0 <= self.port <= 65535:
            raise DataError(f"--port must be in 0..65535, got {self.port}; 0 picks a free port")
        if self.max_batch < 1 or self.max_wait_ms < 0 or self.max_texts < 1:
            raise DataError(f"--max-batch and --max-texts must be >= 1 and --max-wait-ms >= 0, got {self.max_batch}, "
                            f"{self.max_texts} and {self.max_wait_ms}")  # fmt: skip
        if self.threads is not None and self.threads < 1:
            raise DataError(f"--threads must be >= 1, got {self.threads}; omit it for onnxruntime's default")
        if self.max_body_bytes < 1:
            raise DataError(f"--max-body-bytes must be >= 1, got {self.max_body_bytes}; e.g. 1048576")
        for flag, value in (("--header-timeout-s", self.header_timeout_s), ("--body-timeout-s", self.body_timeout_s),
                            ("--shutdown-timeout-s", self.shutdown_timeout_s)):  # fmt: skip
            if not value > 0:
                raise DataError(f"{flag} must be > 0 seconds, got {value}; e.g. 10")
        return self

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        from acc.tools import cli

        cli.add_bundle(parser)
        parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0: any free port)")
        cli.add_device(parser, "auto: CUDA when onnxruntime-gpu sees a GPU, else CPU")
        cli.add_backend(parser)
        parser.add_argument("--threads", type=int, default=None, help="ORT intra-op threads (default: ORT's)")
        parser.add_argument("--max-batch", type=int, default=32, help="most rows per graph run (default 32)")
        parser.add_argument(
            "--max-wait-ms",
            type=float,
            default=5.0,
            help="longest a request waits for others to batch with (default 5)",
        )
        parser.add_argument(
            "--on-overlength",
            choices=OVERLENGTH,
            default="truncate",
            help="texts longer than the model's max_length: cut them or answer 422 (default truncate)",
        )
        parser.add_argument("--max-texts", type=int, default=256, help="most texts per request (default 256)")
        parser.add_argument(
            "--adaptive",
            action="store_true",
            help="requests without speedup/budget/floor step to faster profiles as the queue grows",
        )
        parser.add_argument(
            "--high-water-ms",
            type=float,
            default=20.0,
            help="--adaptive: step faster when requests wait this long beyond --max-wait-ms (20)",
        )
        parser.add_argument(
            "--low-water-ms",
            type=float,
            default=2.0,
            help="--adaptive: step back after --calm-requests batches below this (default 2)",
        )
        parser.add_argument(
            "--calm-requests", type=int, default=32, help="--adaptive: calm batches before stepping back (default 32)"
        )
        parser.add_argument(
            "--no-verify",
            dest="verify",
            action="store_false",
            help="skip re-hashing the bundle's files at load (sizes are still checked)",
        )
        parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
        parser.add_argument(
            "--digest",
            default=None,
            metavar="sha256:…",
            help="refuse to serve unless the bundle has this digest (acc-export prints it)",
        )
        parser.add_argument(
            "--verify-key",
            type=Path,
            default=None,
            metavar="PUB.pem",
            help="refuse to serve unless manifest.json.sig verifies with this public key",
        )
        parser.add_argument(
            "--max-body-bytes",
            type=int,
            default=DEFAULT_MAX_BODY_BYTES,
            help=f"larger request bodies get 413 (default {DEFAULT_MAX_BODY_BYTES})",
        )
        parser.add_argument(
            "--header-timeout-s",
            type=float,
            default=DEFAULT_HEADER_TIMEOUT_S,
            help=f"408 and close when request headers take longer (default {DEFAULT_HEADER_TIMEOUT_S:g})",
        )
        parser.add_argument(
            "--body-timeout-s",
            type=float,
            default=DEFAULT_BODY_TIMEOUT_S,
            help=f"408 when a request body takes longer (default {DEFAULT_BODY_TIMEOUT_S:g})",
        )
        parser.add_argument(
            "--shutdown-timeout-s",
            type=float,
            default=DEFAULT_SHUTDOWN_TIMEOUT_S,
            help="on Ctrl-C/SIGTERM, cancel requests still running after this long "
            f"(default {DEFAULT_SHUTDOWN_TIMEOUT_S:g})",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeOptions:
        from acc.tools.cli import select_gpu

        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        return cls(**values | {"device": select_gpu(args.device)}).check()


def serve(options: ServeOptions) -> None:
    """Load the bundle, bind ``host:port``, serve until interrupted (Ctrl-C / SIGTERM), then close the runtime."""
    options.check()
    _require_extra()
    import uvicorn

    from .policy import LoadAdaptivePolicy
    from .runtime import Runtime
    from .server import create_app
    from .server_limits import header_deadline_protocol

    runtime = Runtime.load(options.bundle, device=options.device, backend=options.backend, verify=options.verify,
                           threads=options.threads, digest=options.digest, verify_key=options.verify_key)  # fmt: skip
    adaptive = None
    if options.adaptive:
        adaptive = LoadAdaptivePolicy.from_catalog(runtime.manifest, high_water_ms=options.high_water_ms,
                                                   low_water_ms=options.low_water_ms,
                                                   calm_requests=options.calm_requests)  # fmt: skip
    app = create_app(runtime, max_batch=options.max_batch, max_wait_ms=options.max_wait_ms,
                     on_overlength=options.on_overlength, max_texts=options.max_texts, adaptive=adaptive,
                     max_body_bytes=options.max_body_bytes, body_timeout_s=options.body_timeout_s,
                     shutdown_timeout_s=options.shutdown_timeout_s)  # fmt: skip
    sock = bind_socket(options.host, options.port)
    protocol = header_deadline_protocol(options.header_timeout_s, app.state.metrics.error)
    config = uvicorn.Config(app, log_level=options.log_level, http=protocol,
                            timeout_graceful_shutdown=options.shutdown_timeout_s)  # type: ignore[arg-type]  # fmt: skip
    server = uvicorn.Server(config)
    host, port = sock.getsockname()[:2]
    logging.getLogger("uvicorn.error").info(
        "acc-serve: %s (%s, profiles %s) listening on http://%s:%d", runtime.manifest.model.name, runtime.backend,
        ", ".join(runtime.manifest.profile_names), host, port,
    )  # fmt: skip
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on; the shutdown was clean
        pass
    finally:
        sock.close()
        runtime.close()
    if not server.started:
        raise BackendError(f"the server on {host}:{port} failed to start (see the log above); fix that and rerun")


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn (it listens on it); one ``BackendError`` line when the address is unusable."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]  # fmt: skip
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise BackendError(f"cannot resolve --host {host!r} ({exc}); pass an address such as 127.0.0.1") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise BackendError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port or "
                           "stop the process using it") from exc  # fmt: skip
    return sock


def _require_extra() -> None:
    """fastapi, uvicorn and prometheus-client come with the ``[serve]`` extra; say so in one line if missing."""
    import importlib.util

    missing = [name for name in ("fastapi", "uvicorn", "prometheus_client") if importlib.util.find_spec(name) is None]
    if missing:
        raise BackendError(f"acc-serve needs {', '.join(missing)}, not installed here; {SERVE_EXTRA}")
