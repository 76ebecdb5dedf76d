"""Run the app: in the foreground for `slmforge serve`, or in a thread for tests and benchmarks."""

from __future__ import annotations

import signal
import socket
import threading
import time
from typing import Any

import uvicorn

from slmforge.runtime.serve.guards import check_bind
from slmforge.runtime.serve.options import ServeError, ServeOptions


def uvicorn_config(app: Any, options: ServeOptions, log_level: str = "warning") -> uvicorn.Config:
    check_bind(options.host, options.api_keys)
    return uvicorn.Config(
        app, host=options.host, port=options.port, log_level=log_level,
        # On SIGINT/SIGTERM uvicorn stops accepting, lets in-flight requests finish for this
        # long, then runs the app's shutdown (which drains the engines' queues).
        timeout_graceful_shutdown=int(options.graceful_timeout_s),
        # Many concurrent clients (benchmarks, judges) open connections in bursts.
        backlog=2048,
    )


class Stopper:
    """Lets something the server depends on (a vLLM child) end it: a server whose engine died must exit non-zero
    with the reason, so a supervisor restarts it, rather than answer 500s forever."""

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        self.reason = reason
        if self.server is not None:
            self.server.should_exit = True


def run_foreground(app: Any, options: ServeOptions, stopper: Stopper | None = None) -> None:
    server = uvicorn.Server(uvicorn_config(app, options, log_level="info"))
    if stopper is not None:
        stopper.server = server
    # Uvicorn shuts down gracefully on SIGINT/SIGTERM and then re-raises the signal to whatever
    # handler was there before. A drained shutdown is the normal end of a server, so make that
    # re-raise a no-op for SIGTERM and swallow the KeyboardInterrupt of SIGINT: exit code 0.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise ServeError(f"--host {options.host} --port {options.port}: cannot listen ({exc.strerror or exc})") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if stopper is not None and stopper.reason:
        raise ServeError(stopper.reason)


def check_port_free(host: str, port: int) -> None:
    """Fail in a second with one line, not after loading every model."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServeError(f"--host {host} --port {port}: cannot listen ({exc.strerror or exc}); "
                             "pick another --port or stop the other server") from None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerThread:
    """A real uvicorn server on loopback in a background thread: `with ServerThread(app, opts) as url:`."""

    def __init__(self, app: Any, options: ServeOptions, start_timeout_s: float = 30.0):
        if not options.port:
            options.port = free_port(options.host)
        self.options = options
        self.server = uvicorn.Server(uvicorn_config(app, options))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self.start_timeout_s = start_timeout_s

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.options.port}"

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ServeError(f"server on {self.url} did not start")
            time.sleep(0.02)
        return self.url

    def stop(self, timeout_s: float = 60.0) -> None:
        """Graceful: stop accepting, finish in-flight requests, drain the engines."""
        self.server.should_exit = True
        self.thread.join(timeout_s)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
